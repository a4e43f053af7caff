"""cffi builder for ``cse._cse``: API mode, a compiled extension over libcse.

libcse is found with pkg-config: an installed CSE (``meson install``), or a
build tree through its uninstalled .pc file
(``PKG_CONFIG_PATH=build/linux/meson-uninstalled``, which is how the
project's ``.venv`` gets it).  Library directories outside the system's
default ones are recorded as the extension's rpath, so the module finds
the same libcse it was built against without LD_LIBRARY_PATH
(``CSE_PY_RPATH=0`` turns that off, e.g. for a distribution package).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
PKG = "src/cse"  # relative: setuptools wants source paths relative to setup.py

#: What Python sees of cse.h and of the binding's C side (_cse_py.h).
CDEF = """
#define CSE_EXEC_INLINE ...
#define CSE_EXEC_WORKER ...
#define CSE_EXEC_FORCE_BACKUP ...
#define CSE_SERVER_ID_MAX ...
#define CSE_MAX_BACKUP ...
#define CSE_BACKUP_MSG ...
#define CSE_BACKUP_CALL ...
#define CSE_SLOTS_BACKUP ...
#define CSE_SLOTS_WAIT ...
#define CSE_SUBMIT_FIFO ...
#define CSE_SUBMIT_CTL ...
#define CSE_SUBMIT_CALL ...
#define CPY_PACK_FAILED ...
#define CPY_PACK_BACKUP_SHIFT ...
#define CPY_PACK_LEN_MASK ...

struct cpy_client;
struct cpy_queue;
struct cpy_server;

const char *cse_strerror(int err);

int cpy_client_open(struct cpy_client **out, const char *server_id,
                    uint32_t nslots, uint32_t slot_input_size,
                    uint32_t slot_output_size, uint32_t slot_policy,
                    int32_t spin_ns, uint32_t submit);
void cpy_client_close(struct cpy_client *w);
void cpy_client_free(struct cpy_client *w);
void cpy_client_forget(struct cpy_client *w);
int64_t cpy_call(struct cpy_client *w, uint32_t code, uint32_t flags,
                 const char *in, size_t in_len, char *out, size_t out_len,
                 int64_t *info);
int cpy_batch(struct cpy_client *w, uint32_t code, const uint32_t *codes,
              uint32_t flags, const char *in, size_t in_stride,
              const uint32_t *in_lens, char *out, size_t out_stride,
              uint32_t n, uint32_t window, int32_t *results,
              int32_t *statuses, uint32_t *lens);

int cpy_queue_new(struct cpy_queue **out);
void cpy_queue_close(struct cpy_queue *q);
void cpy_queue_free(struct cpy_queue *q);
int cpy_submit(struct cpy_client *w, struct cpy_queue *q, uint64_t token,
               uint32_t code, uint32_t flags, const char *in, size_t in_len,
               size_t out_len);
int cpy_reap(struct cpy_queue *q, uint64_t *tokens, int64_t *packed,
             uint32_t max, char *out, size_t out_cap, int32_t timeout_ms);

int cpy_server_create(struct cpy_server **out, const char *server_id,
                      uint32_t nworkers, uint32_t default_exec, int32_t spin_ns,
                      void *handle, uintptr_t handler, uintptr_t slow, uintptr_t failed);
void cpy_server_destroy(struct cpy_server *ps);
int cpy_call_install(uintptr_t dict, uintptr_t replies, uintptr_t error);

extern "Python+C" uintptr_t cpy_py_open(void *server_handle);
extern "Python+C" void cpy_py_close(void *server_handle, uintptr_t conn);
extern "Python+C" void cpy_py_pin(void);
"""

#: Directories the dynamic linker searches anyway: no rpath for them.
_SYSTEM_LIBDIRS = {"/lib", "/usr/lib", "/lib64", "/usr/lib64"}


def _pkg_config() -> list[str]:
    cmd = [os.environ.get("PKG_CONFIG", "pkg-config"), "--cflags", "--libs", "cse"]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError as e:
        raise SystemExit(f"cse binding: {cmd[0]} not found; install pkg-config") from e
    except subprocess.CalledProcessError as e:
        raise SystemExit(
            "cse binding: pkg-config cannot find libcse (cse.pc).  Install CSE "
            "(meson install -C build/linux) or point PKG_CONFIG_PATH at its "
            "pkgconfig directory, or at build/<flavour>/meson-uninstalled for a "
            f"build tree.\n{e.stderr.strip()}") from e
    return shlex.split(out)


def _is_system(libdir: str) -> bool:
    d = os.path.normpath(libdir)
    return d in _SYSTEM_LIBDIRS or os.path.dirname(d) in _SYSTEM_LIBDIRS and \
        d.endswith("-linux-gnu")


def _flags() -> dict[str, list[str]]:
    kw: dict[str, list[str]] = {"include_dirs": [str(HERE / PKG)], "library_dirs": [],
                                "libraries": [], "extra_compile_args": [],
                                "extra_link_args": [], "runtime_library_dirs": []}
    for f in _pkg_config():
        if f.startswith("-I"):
            kw["include_dirs"].append(f[2:])
        elif f.startswith("-L"):
            kw["library_dirs"].append(f[2:])
            if os.environ.get("CSE_PY_RPATH", "1") != "0" and not _is_system(f[2:]):
                kw["runtime_library_dirs"].append(f[2:])
        elif f.startswith("-l"):
            kw["libraries"].append(f[2:])
        else:
            kw["extra_compile_args"].append(f)
    # The project's C standard: warnings are errors (cffi's generated file
    # included; -Wno-unused-parameter for its wrappers' unused arguments).
    kw["extra_compile_args"] += ["-std=gnu11", "-Wall", "-Wextra", "-Werror",
                                 "-Wno-unused-parameter"]
    return kw


#: _cse_py_server.c and _cse_py_call.c use CPython's full C API (not the
#: limited one), so the module is built for this Python version, not abi3.
_FULL_API = {"py_limited_api": False, "define_macros": [("_CFFI_NO_LIMITED_API", None)]}


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("cse._cse", '#include "_cse_py.h"\n',
                      sources=[f"{PKG}/_cse_py_{part}.c" for part in
                               ("wait", "client", "batch", "queue", "server", "call")],
                      **_flags(),
                      **_FULL_API)

if __name__ == "__main__":
    os.chdir(HERE)
    ffibuilder.compile(verbose=True)
