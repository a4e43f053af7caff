# -*- mode: ruby -*-
# What the CSE developer VMs (debian/, freebsd/) share: the synced checkout,
# the VM's size for either provider, and the provisioning script run with
# the steps asked for.  Environment (read when vagrant loads a Vagrantfile):
#   CSE_PROVISION_STEPS  provisioning steps, default the Vagrantfile's (Debian:
#                        "deps build test modules kk", FreeBSD: "deps build
#                        test"); the testbed asks for "deps" and runs the
#                        suites itself
#   CSE_VM_CPUS, CSE_VM_MEMORY  the VM's size (default 2 CPUs, 2048 MiB)
#   CSE_VAGRANT_SSH_PORT and the rest of cse_user_net below: the offline
#                        route (a box built by ../box/debian12.sh, libvirt in
#                        qemu:///session, no bridge and no libvirt network)

def cse_vm(config, script, steps = "deps build test")
  cpus = Integer(ENV.fetch("CSE_VM_CPUS", "2"))
  memory = Integer(ENV.fetch("CSE_VM_MEMORY", "2048"))

  # rsync works with every provider and needs no guest additions (on FreeBSD
  # Vagrant installs rsync with pkg); run `vagrant rsync` (or
  # `vagrant rsync-auto`) to push later edits.
  config.vm.synced_folder "../..", "/vagrant", type: "rsync",
    rsync__exclude: [".git/", ".venv/", "build/", "report/"]

  config.vm.provider "virtualbox" do |vb|
    vb.cpus = cpus
    vb.memory = memory
  end
  config.vm.provider "libvirt" do |lv|
    lv.cpus = cpus
    lv.memory = memory
  end

  cse_user_net(config) if ENV["CSE_VAGRANT_SSH_PORT"]

  config.vm.provision "shell", path: script,
    args: ENV.fetch("CSE_PROVISION_STEPS", steps).split,
    env: { "CSE_SRC" => "/vagrant" }
end

# The offline route the testbed takes (testbed/provision/vagrant/): libvirt's
# per-user daemon (qemu:///session), so no system daemon and none of its
# networks (virbr0) ever start; vagrant-libvirt's management network off
# (mgmt_attach = false) and no libvirt network at all; the VM's one NIC is
# QEMU's user-mode network (restricted: no way out of the VM but the ssh
# port forwarded on 127.0.0.1, on a documentation range rather than QEMU's
# default 10.0.2.0/24); the box's kernel booted directly, its serial
# console in a file.  Environment:
#   CSE_VAGRANT_SSH_PORT   the 127.0.0.1 port forwarded to the VM's port 22
#   CSE_VAGRANT_KEY        the private key of the box's `vagrant` user
#   CSE_VAGRANT_KERNEL, CSE_VAGRANT_INITRD   the box's kernel and initrd
#   CSE_VAGRANT_CMDLINE    the kernel command line (default: the box's root)
#   CSE_VAGRANT_CONSOLE    where the serial console goes
#   CSE_VAGRANT_POOL       the libvirt storage pool's folder
#   CSE_VAGRANT_DRIVER     qemu (TCG, default) or kvm
#   CSE_VAGRANT_BOOT_TIMEOUT  seconds for ssh to answer (default 900)
#   CSE_VAGRANT_NAME       the libvirt domain's name (one per checkout and cell;
#                          short: the agent channel's socket path has it)
def cse_user_net(config)
  port = Integer(ENV.fetch("CSE_VAGRANT_SSH_PORT"))
  begin
    require "vagrant-libvirt/driver"
  rescue LoadError
    return # no vagrant-libvirt: `vagrant validate --ignore-provider` still works
  end
  # vagrant-libvirt looks the VM's address up in a libvirt network's DHCP
  # leases (or asks a guest agent, for a NIC libvirt knows): with user-mode
  # networking there are none, and ssh goes through the forwarded port.
  cse_loopback = Module.new do
    def get_ipaddress(_domain = nil)
      "127.0.0.1"
    end
  end
  VagrantPlugins::ProviderLibvirt::Driver.prepend(cse_loopback)

  config.vm.boot_timeout = Integer(ENV.fetch("CSE_VAGRANT_BOOT_TIMEOUT", "900"))
  config.ssh.host = "127.0.0.1"
  config.ssh.port = port
  config.ssh.username = "vagrant"
  config.ssh.private_key_path = ENV.fetch("CSE_VAGRANT_KEY")
  config.ssh.insert_key = false
  config.vm.provider "libvirt" do |lv|
    lv.uri = "qemu:///session"
    lv.system_uri = "qemu:///session"
    lv.driver = ENV.fetch("CSE_VAGRANT_DRIVER", "qemu")
    lv.default_prefix = "#{ENV['CSE_VAGRANT_NAME']}_" if ENV["CSE_VAGRANT_NAME"]
    lv.mgmt_attach = false
    lv.qemu_use_agent = true # vagrant-libvirt's check for a VM without a network
    lv.storage_pool_name = "default"
    lv.storage_pool_path = ENV.fetch("CSE_VAGRANT_POOL")
    lv.graphics_type = "none"
    lv.video_type = "none"
    if lv.driver == "qemu"
      lv.cpu_mode = "custom"
      lv.cpu_model = "qemu64"
    end
    lv.kernel = ENV.fetch("CSE_VAGRANT_KERNEL")
    lv.initrd = ENV.fetch("CSE_VAGRANT_INITRD")
    lv.cmd_line = ENV.fetch("CSE_VAGRANT_CMDLINE", "root=/dev/vda rw console=ttyS0 net.ifnames=0")
    lv.serial type: "file", source: { path: ENV.fetch("CSE_VAGRANT_CONSOLE") }
    lv.qemuargs value: "-netdev"
    lv.qemuargs value: "user,id=cse0,restrict=on,net=198.51.100.0/24,host=198.51.100.2," \
                       "dhcpstart=198.51.100.15,hostfwd=tcp:127.0.0.1:#{port}-:22"
    lv.qemuargs value: "-device"
    # a slot of its own: libvirt places its devices without knowing of this one
    lv.qemuargs value: "virtio-net-pci,netdev=cse0,bus=pci.0,addr=0x1e"
  end
end
