"""Platform set-up: OpenBLAS for MLX, offline environment, thread counts, llama.cpp safety."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mlxmed import platform

CPUINFO_2_CORES_4_THREADS = "\n".join(
    f"processor\t: {i}\nphysical id\t: 0\ncore id\t\t: {i // 2}\n" for i in range(4))


def test_physical_cores_counts_cores_not_hyperthreads():
    assert platform._linux_physical_cores(CPUINFO_2_CORES_4_THREADS) == 2


def test_physical_cores_falls_back_to_processor_count_without_core_ids():
    assert platform._linux_physical_cores("processor : 0\n\nprocessor : 1\n") == 2


def test_physical_cores_is_positive():
    assert platform.physical_cores() >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenBLAS is Linux-only")
def test_openblas_is_mapped_into_the_process_before_mlx():
    code = ("import mlxmed, mlx.core as mx; mx.eval(mx.ones((64, 64)) @ mx.ones((64, 64))); "
            "print(open('/proc/self/maps').read())")
    maps = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout
    assert "libopenblas" in maps


def test_openblas_kernels_follow_the_cpu_features():
    assert platform.openblas_coretype({"avx2", "fma", "avx512f", "avx512cd", "avx512bw",
                                       "avx512dq", "avx512vl", "avx512_bf16"}) == "SkylakeX"
    assert platform.openblas_coretype({"avx2", "fma", "avx512f", "avx512cd", "avx512bw",
                                       "avx512dq", "avx512vl"}) == "SkylakeX"
    assert platform.openblas_coretype({"avx", "avx2", "fma", "sse4_2"}) == "Haswell"
    assert platform.openblas_coretype({"sse4_2", "avx"}) is None  # OpenBLAS decides
    assert platform.openblas_coretype(set()) is None  # not x86 (or flags unknown)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenBLAS is Linux-only")
def test_openblas_runs_the_kernels_the_cpu_supports():
    # a CPU that OpenBLAS does not know by model would otherwise get its SSE3 kernels
    code = ("import os, mlxmed.platform as p; "
            "print(p.openblas_corename(), os.environ.get('OPENBLAS_CORETYPE'))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    name, chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True, env=env).stdout.split()
    expected = platform.openblas_coretype(platform.cpu_flags())
    if expected:  # an x86-64 CPU with AVX2 or AVX-512: never the SSE-era kernels
        assert name.lower() == expected.lower()
        assert name.lower() not in ("prescott", "core2", "katmai", "nehalem")
    else:  # anything else is left to OpenBLAS
        assert chosen == "None"


def test_the_users_openblas_coretype_wins():
    code = "import mlxmed, os; print(os.environ['OPENBLAS_CORETYPE'])"
    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.strip()
    assert out == "Haswell"


def test_missing_openblas_warns_once_with_the_fix(monkeypatch):
    monkeypatch.setattr(platform, "is_linux", lambda: True)
    monkeypatch.setattr(platform, "_openblas_handle", None)
    monkeypatch.setattr(platform, "_warned", set())
    monkeypatch.setattr(platform, "OPENBLAS_CANDIDATES", ("/nonexistent/libopenblas.so.0",))
    monkeypatch.setattr(platform.ctypes.util, "find_library", lambda name: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert platform.load_openblas() is False
        assert platform.load_openblas() is False
    messages = [str(w.message) for w in caught if "OpenBLAS not found" in str(w.message)]
    assert len(messages) == 1
    assert "apt-get install libopenblas0-pthread" in messages[0]


def test_every_process_is_offline_after_import():
    code = ("import mlxmed, os, huggingface_hub.constants as c; "
            "print(os.environ['HF_HUB_OFFLINE'], c.HF_HUB_OFFLINE, "
            "os.environ['HF_HUB_DISABLE_TELEMETRY'])")
    env_out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={"PATH": "/usr/bin:/bin"}).stdout.split()
    assert env_out == ["1", "True", "1"]


def test_cpu_dtype_is_float32_without_metal():
    import mlx.core as mx

    expected = "float16" if mx.metal.is_available() else "float32"
    assert platform.default_dtype() == expected


def test_cmake_args_never_enable_native_or_amx():
    flags = {"avx", "avx2", "fma", "f16c", "amx_tile", "amx_int8", "amx_bf16", "avx512f",
             "avx512bw", "avx512dq", "avx512vl", "avx512cd"}
    args = platform.llama_cmake_args(flags, system="linux")
    if not args:
        pytest.skip("not an x86-64 machine")
    assert "-DGGML_NATIVE=OFF" in args
    assert "-DGGML_AMX_INT8=OFF" in args and "-DGGML_AMX_TILE=OFF" in args
    assert "-DGGML_AVX2=ON" in args and "-DGGML_AVX512=ON" in args


def test_cmake_args_leave_out_what_the_cpu_lacks():
    args = platform.llama_cmake_args({"avx", "avx2", "fma", "f16c"}, system="linux")
    if not args:
        pytest.skip("not an x86-64 machine")
    assert "-DGGML_AVX512=OFF" in args and "-DGGML_AVX2=ON" in args


def test_cmake_args_empty_on_macos():
    assert platform.llama_cmake_args({"avx2"}, system="darwin") == ""


def test_installed_llama_cpp_has_no_amx_and_keeps_extra_buffers():
    info = platform.llama_system_info()
    assert "AMX_INT8 = 1" not in info
    assert platform.llama_use_extra_bufts() is True


def test_extra_buffers_are_disabled_for_a_build_with_amx(monkeypatch):
    monkeypatch.delenv("MLXMED_LLAMA_EXTRA_BUFTS", raising=False)
    monkeypatch.setattr(platform, "llama_system_info", lambda: "CPU : AVX2 = 1 | AMX_INT8 = 1 |")
    assert platform.llama_use_extra_bufts() is False
    monkeypatch.setenv("MLXMED_LLAMA_EXTRA_BUFTS", "1")
    assert platform.llama_use_extra_bufts() is True


def test_platform_module_runs_as_a_script_for_the_installer():
    script = Path(platform.__file__)
    out = subprocess.run([sys.executable, "-P", str(script), "cmake-args"], capture_output=True,
                         text=True, check=True).stdout
    assert "AMX" in out or out.strip() == ""


def _load_log(gguf_path, use_extra_bufts: bool) -> str:
    """llama.cpp's own load log (it goes to the C stderr, so run it in a child process)."""
    code = (
        "import mlxmed, mlxmed.inference.llama_runtime as r\n"
        "from llama_cpp import Llama\n"
        f"with r._model_params_patch({use_extra_bufts}):\n"
        f"    Llama({str(gguf_path)!r}, n_ctx=64, verbose=True)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stderr


def test_default_llama_parameters_keep_the_fast_repacked_kernels(tiny_models):
    """Our AMX-safe choice must not throw away the repacked (interleaved) CPU kernels."""
    gguf_path = tiny_models("llama", "Q4_0")
    assert platform.llama_use_extra_bufts() is True
    with_extra = _load_log(gguf_path, True)
    without_extra = _load_log(gguf_path, False)
    assert "CPU_REPACK model buffer" in with_extra
    assert "CPU_REPACK" not in without_extra
