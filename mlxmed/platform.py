"""Everything platform-specific in one place.

* MLX on Linux: the ``mlx[cpu]`` wheel links a slow reference BLAS. Loading OpenBLAS into the
  global symbol namespace *before* ``mlx`` is first imported makes its matmuls ~50x faster.
  OpenBLAS picks its kernels by CPU model; one it does not know yet gets its oldest (SSE3)
  kernels, so the kernels are chosen from the CPU's feature flags instead.
* dtype: float32 on CPU (bf16/f16 matmuls do not use BLAS there), float16 on Apple GPUs.
* llama.cpp: safe model parameters (never the AMX code path that crashes in some VMs) and
  thread counts equal to the physical cores.
* Privacy: the Hugging Face libraries are kept offline and telemetry is switched off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform as _stdlib_platform
import subprocess
import sys
import warnings
from pathlib import Path

OPENBLAS_CANDIDATES = (
    "libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib/libopenblas.so.0",
)
OPENBLAS_FIX = (
    "install OpenBLAS (Debian/Ubuntu: sudo apt-get install libopenblas0-pthread; "
    "Fedora: sudo dnf install openblas) and run again"
)

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

# OpenBLAS kernel sets by the x86-64 features they need, best first (names as OpenBLAS's
# OPENBLAS_CORETYPE takes them; SkylakeX exists since OpenBLAS 0.2.20, Haswell before that).
# Newer sets (Cooperlake, SapphireRapids) add bfloat16 kernels, not faster float32 ones.
OPENBLAS_CORETYPES = (
    ("SkylakeX", {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}),
    ("Haswell", {"avx2", "fma"}),
)

_openblas_handle: ctypes.CDLL | None = None
_warned: set[str] = set()


def is_linux() -> bool:
    return sys.platform.startswith("linux")


def is_apple_silicon() -> bool:
    return sys.platform == "darwin" and _stdlib_platform.machine() == "arm64"


def enforce_offline() -> None:
    """Keep huggingface_hub / transformers offline and silent (set before they are imported)."""
    os.environ.update(OFFLINE_ENV)


def load_openblas() -> bool:
    """On Linux, load OpenBLAS globally so MLX's CPU matmuls use it. Returns True on success.

    Must run before ``mlx`` is first imported; warns once (with the fix) when it cannot.
    """
    global _openblas_handle
    if not is_linux():
        return True
    if _openblas_handle is not None:
        return True
    if "mlx.core" in sys.modules:
        _warn_once("mlx-first", "mlx was imported before mlxmed, so MLX may be using a slow "
                   "BLAS; import mlxmed first")
    # one BLAS thread per physical core (hyper-threads only contend); the user's choice wins
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(physical_cores()))
    # idle BLAS threads go to sleep soon instead of spinning on sched_yield (the default
    # spin burnt a quarter of a training run's CPU time in the kernel; wall time unchanged)
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    coretype = openblas_coretype(cpu_flags())
    if coretype:
        os.environ.setdefault("OPENBLAS_CORETYPE", coretype)
    found = ctypes.util.find_library("openblas")
    for candidate in ((found,) if found else ()) + OPENBLAS_CANDIDATES:
        try:
            _openblas_handle = ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
            return True
        except OSError:
            continue
    _warn_once("no-openblas",
               f"OpenBLAS not found: MLX training on CPU will be very slow; {OPENBLAS_FIX}")
    return False


def openblas_coretype(flags: set[str]) -> str | None:
    """The OpenBLAS kernels for a CPU with these feature flags (None: leave it to OpenBLAS).

    OpenBLAS recognises CPUs by model number, so a newer one than the library (Debian 12's
    0.3.21 on a Sapphire Rapids Xeon) falls back to its Prescott (SSE3) kernels: float32
    matmuls then ran at ~20 GFLOP/s a core here instead of ~160. The flags say which kernels
    the CPU can run, whatever its model."""
    for name, needed in OPENBLAS_CORETYPES:
        if needed <= flags:
            return name
    return None


def openblas_corename() -> str | None:
    """The kernel set the loaded OpenBLAS uses (e.g. ``Haswell``), if OpenBLAS is loaded."""
    if _openblas_handle is None:
        return None
    try:
        get = _openblas_handle.openblas_get_corename
    except AttributeError:
        return None
    get.restype = ctypes.c_char_p
    return get().decode()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def openblas_loaded() -> bool:
    return _openblas_handle is not None


def private_caches() -> None:
    """MLX's compiled CPU kernels (written under the temporary directory and loaded back as
    shared libraries) and matplotlib's font cache go to folders of their own under
    MLXMED_HOME, readable by this user only, instead of the shared ``/tmp`` and ``~/.cache``.
    A temporary directory or matplotlib folder the user chose (``TMPDIR``, ``MPLCONFIGDIR``)
    is kept."""
    home = Path(os.environ.get("MLXMED_HOME") or Path.home() / ".cache" / "mlxmed").expanduser()
    for variable, folder in (("TMPDIR", home / "tmp"), ("MPLCONFIGDIR", home / "matplotlib")):
        if os.environ.get(variable):
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder.chmod(0o700)
        except OSError:
            continue  # an unwritable home: the defaults stay (the commands report the folder)
        os.environ[variable] = str(folder)


def prepare() -> None:
    """Set up the process: offline environment, private caches and a fast BLAS for MLX."""
    enforce_offline()
    private_caches()
    load_openblas()


def default_dtype() -> str:
    """float16 on an Apple GPU, float32 on CPU (bf16/f16 matmuls are slow on CPU)."""
    import mlx.core as mx

    return "float16" if mx.metal.is_available() else "float32"


@functools.cache
def physical_cores() -> int:
    """Number of physical cores (performance cores on Apple Silicon); at least 1."""
    try:
        if sys.platform == "darwin":
            for key in ("hw.perflevel0.physicalcpu", "hw.physicalcpu"):
                out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True)
                if out.returncode == 0 and out.stdout.strip().isdigit():
                    return max(1, int(out.stdout.strip()))
        elif is_linux():
            cores = _linux_physical_cores(Path("/proc/cpuinfo").read_text())
            if cores:
                return min(cores, len(os.sched_getaffinity(0)))
    except OSError:
        pass
    return max(1, os.cpu_count() or 1)


def _linux_physical_cores(cpuinfo: str) -> int:
    """Count distinct (physical id, core id) pairs in /proc/cpuinfo text; 0 if unknown."""
    pairs: set[tuple[str, str]] = set()
    phys = core = None
    processors = 0
    for line in cpuinfo.splitlines() + [""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor":
            processors += 1
        elif key == "physical id":
            phys = value
        elif key == "core id":
            core = value
        elif not line.strip():
            if core is not None:
                pairs.add((phys or "0", core))
            phys = core = None
    return len(pairs) if pairs else processors


def cpu_flags() -> set[str]:
    """CPU feature flags on Linux (empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def llama_system_info() -> str:
    """llama.cpp's own description of the CPU features it was built with."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return info.decode() if isinstance(info, bytes) else str(info)


def llama_has_amx() -> bool:
    """True if the installed llama.cpp was built with AMX kernels."""
    return "AMX_INT8 = 1" in llama_system_info()


def llama_use_extra_bufts() -> bool:
    """Whether llama.cpp may use its extra buffer types (repacked fast CPU kernels, AMX).

    mlxmed builds llama.cpp without AMX, so the fast repacked kernels stay on. If some other
    build with AMX is installed, the extra buffers are turned off: in VMs that advertise AMX but
    do not let it run, ``ggml_backend_amx_mul_mat`` segfaults. ``MLXMED_LLAMA_EXTRA_BUFTS=1|0``
    overrides the choice.
    """
    override = os.environ.get("MLXMED_LLAMA_EXTRA_BUFTS")
    if override in ("0", "1"):
        return override == "1"
    return not llama_has_amx()


def llama_cmake_args(flags: set[str] | None = None, system: str | None = None) -> str:
    """CMAKE_ARGS for building llama-cpp-python safely on this machine.

    Linux x86-64: no ``-march=native`` (it would pull in AMX), explicit SIMD flags that this CPU
    really has. macOS: the default build (Metal, native ARM kernels) is fine.
    """
    system = system or sys.platform
    if not system.startswith("linux"):
        return ""
    flags = cpu_flags() if flags is None else flags
    if not flags or _stdlib_platform.machine() not in ("x86_64", "AMD64"):
        return ""
    args = ["-DGGML_NATIVE=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF",
            "-DGGML_AMX_BF16=OFF"]
    wanted = {
        "GGML_AVX": {"avx"},
        "GGML_AVX2": {"avx2"},
        "GGML_FMA": {"fma"},
        "GGML_F16C": {"f16c"},
        "GGML_BMI2": {"bmi2"},
        "GGML_AVX512": {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"},
        "GGML_AVX512_VNNI": {"avx512_vnni"},
        "GGML_AVX512_BF16": {"avx512_bf16"},
        "GGML_AVX_VNNI": {"avx_vnni"},
    }
    for option, needs in wanted.items():
        args.append(f"-D{option}={'ON' if needs <= flags else 'OFF'}")
    return " ".join(args)


def platform_summary() -> dict[str, str]:
    """A short description of the platform, for run records and `mlxmed --version`."""
    return {
        "python": sys.version.split()[0],
        "system": f"{_stdlib_platform.system()} {_stdlib_platform.release()}",
        "machine": _stdlib_platform.machine(),
        "physical_cores": str(physical_cores()),
        "openblas": "loaded" if openblas_loaded() else ("n/a" if not is_linux() else "missing"),
    }


if __name__ == "__main__":  # used by the Makefile before mlxmed is installed
    if sys.argv[1:] == ["cmake-args"]:
        print(llama_cmake_args())
