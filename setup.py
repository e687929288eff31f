"""Builds the `ember` package: the C shim extension (`ember._shim`, gcc, CPython 3.13 internal
headers) and the Rust cdylib `libember.so` (setuptools-rust), and installs `ember-jit.pth` so that
EMBER_AUTO / EMBER_JIT_LIST switch the JIT on in any process of the environment."""
import os
import shutil
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_py import build_py
from setuptools_rust import Binding, RustExtension

INC = sysconfig.get_paths()["include"]
# Debian's builds keep pyconfig.h under <include>/../<multiarch>/python3.13/, found through -I of
# the include directory's parent (harmless elsewhere).
INC_PARENT = os.path.dirname(INC)
GLUE = "cpython-glue"


class BuildPyWithPth(build_py):
    """Copies python/ember-jit.pth next to the package (site-packages root)."""

    def run(self):
        super().run()
        shutil.copy(os.path.join("python", "ember-jit.pth"), os.path.join(self.build_lib, "ember-jit.pth"))


os.environ.setdefault("EMBER_PYTHON_INCLUDE", INC)

setup(
    ext_modules=[
        Extension(
            "ember._shim",
            sources=[f"{GLUE}/{f}" for f in ("shim.c", "serialize.c", "runtime_fast.c", "runtime_slow.c", "runtime_more.c", "runtime_stmt.c", "runtime_ic.c", "runtime_gen.c", "frame_fast.c", "perf.c")],
            include_dirs=[GLUE, "include", os.path.join(INC, "internal"), INC, INC_PARENT],
            extra_compile_args=["-O2", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-strict-aliasing"],
            depends=[f"{GLUE}/ember_runtime.h", f"{GLUE}/serialize.h", f"{GLUE}/perf.h", "include/ember.h"],
        ),
        # LD_PRELOAD=<this file> switches Ember on in a python or an embedding host
        # (cpython-glue/preload.c); not a module Python imports.
        Extension(
            "ember._preload",
            sources=[f"{GLUE}/preload.c"],
            include_dirs=[INC, INC_PARENT],
            extra_compile_args=["-O2"],
            libraries=["dl"],
        ),
    ],
    rust_extensions=[RustExtension("ember.libember", path="Cargo.toml", binding=Binding.NoBinding, debug=False)],
    cmdclass={"build_py": BuildPyWithPth},
    # One build directory per target interpreter: setuptools reuses object files whose sources
    # are older, so a build for another CPython (make peers: EMBER_BUILD_BASE=build-pgo) must
    # never share the shim's objects with this one.
    options={"build": {"build_base": os.environ.get("EMBER_BUILD_BASE", "build")}},
    zip_safe=False,
)
