# -*- mode: ruby -*-
# What the CSE developer VMs (debian/, freebsd/) share: the synced checkout,
# the VM's size for either provider, and the provisioning script run with
# the steps asked for.  Environment (read when vagrant loads a Vagrantfile):
#   CSE_PROVISION_STEPS  provisioning steps, default "deps build test"; the
#                        testbed asks for "deps" and runs the suites itself
#   CSE_VM_CPUS, CSE_VM_MEMORY  the VM's size (default 2 CPUs, 2048 MiB)

def cse_vm(config, script)
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

  config.vm.provision "shell", path: script,
    args: ENV.fetch("CSE_PROVISION_STEPS", "deps build test").split,
    env: { "CSE_SRC" => "/vagrant" }
end
