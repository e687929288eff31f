"""Builds the `ember` package: the C shim extension (`ember._shim`, gcc, CPython 3.13 internal
headers) and the Rust cdylib `libember.so` (setuptools-rust), and installs `ember-jit.pth` so that
EMBER_AUTO / EMBER_JIT_LIST switch the JIT on in any process of the environment."""
import os
import shutil
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_py import build_py
from setuptools_rust import Binding, RustExtension, Strip

INC = sysconfig.get_paths()["include"]
# Debian's builds keep pyconfig.h under <include>/../<multiarch>/python3.13/, found through -I of
# the include directory's parent (harmless elsewhere).
INC_PARENT = os.path.dirname(INC)
GLUE = "cpython-glue"


#: Licences of the libraries linked statically into libember.so (LLVM, zlib, zstd), from the build
#: machine's Debian copyright files (LLVM's refers to the Apache-2.0 text, appended); the package
#: ships them as ember/licenses/<name>.txt.
BUNDLED_LICENSES = {
    "LLVM": ["/usr/share/doc/llvm-19/copyright", "/usr/share/common-licenses/Apache-2.0"],
    "zlib": ["/usr/share/doc/zlib1g/copyright"],
    "zstd": ["/usr/share/doc/libzstd1/copyright"],
}


class BuildPyWithPth(build_py):
    """Copies python/ember-jit.pth next to the package (site-packages root) and the licences of
    the statically linked libraries into the package."""

    def run(self):
        super().run()
        shutil.copy(os.path.join("python", "ember-jit.pth"), os.path.join(self.build_lib, "ember-jit.pth"))
        dest = os.path.join(self.build_lib, "ember", "licenses")
        os.makedirs(dest, exist_ok=True)
        for name, paths in BUNDLED_LICENSES.items():
            missing = [p for p in paths if not os.path.exists(p)]
            if missing:
                print(f"warning: {', '.join(missing)} not found; the package will not carry {name}'s licence")
                continue
            with open(os.path.join(dest, f"{name}.txt"), "w") as out:
                out.write("\n\n".join(open(p).read() for p in paths))


os.environ.setdefault("EMBER_PYTHON_INCLUDE", INC)
# The package's libember.so links LLVM statically (the `static-llvm` feature) and is stripped; it
# has a cargo target directory of its own, so that `cargo test` (libLLVM-19.so, dynamic) and the
# package build never rebuild each other's artefacts.
os.environ.setdefault("CARGO_TARGET_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "target", "package"))

setup(
    ext_modules=[
        Extension(
            "ember._shim",
            sources=[f"{GLUE}/{f}" for f in ("shim.c", "serialize.c", "runtime_fast.c", "runtime_slow.c", "runtime_more.c", "runtime_stmt.c", "runtime_ic.c", "runtime_gen.c", "frame_fast.c", "perf.c")],
            include_dirs=[GLUE, "include", os.path.join(INC, "internal"), INC, INC_PARENT],
            # Frame pointers: perf record -g (EMBER_PERF) walks from a helper through compiled code
            # (which keeps them too under EMBER_PERF) to the interpreter.
            extra_compile_args=["-O2", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-strict-aliasing",
                                "-fno-omit-frame-pointer"],
            depends=[f"{GLUE}/ember_runtime.h", f"{GLUE}/ember_refcount.h", f"{GLUE}/serialize.h", f"{GLUE}/perf.h", "include/ember.h"],
            # The shim keeps its debug information (1.2 of its 1.4 MB): Ember's py-bt
            # (ember/_gdb.py) reads its code-object records through it.
        ),
        # LD_PRELOAD=<this file> switches Ember on in a python or an embedding host
        # (cpython-glue/preload.c); not a module Python imports.
        Extension(
            "ember._preload",
            sources=[f"{GLUE}/preload.c"],
            include_dirs=[INC, INC_PARENT],
            extra_compile_args=["-O2"],
            extra_link_args=["-Wl,--strip-debug"],
            libraries=["dl"],
        ),
    ],
    rust_extensions=[
        RustExtension(
            "ember.libember", path="Cargo.toml", binding=Binding.NoBinding, debug=False, features=["static-llvm"], strip=Strip.All
        )
    ],
    cmdclass={"build_py": BuildPyWithPth},
    # One build directory per target interpreter: setuptools reuses object files whose sources
    # are older, so a build for another CPython (make peers: EMBER_BUILD_BASE=build-pgo) must
    # never share the shim's objects with this one.
    options={"build": {"build_base": os.environ.get("EMBER_BUILD_BASE", "build")}},
    zip_safe=False,
)
