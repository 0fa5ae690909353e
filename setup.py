"""Build script: compiles the Cython kernels, with OpenMP when the compiler has it.

Without OpenMP the kernels run on one thread and give the same results.
Set SKLEARN_SYMNET_NO_OPENMP=1 to build without it, and
SKLEARN_SYMNET_PORTABLE=1 to build for the generic target of the compiler
instead of the building machine (-march=native).
"""

import os
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _compiler_accepts(compiler, flags):
    """Whether a trivial C file compiles with ``flags``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "flag_check.c")
        with open(src, "w") as f:
            f.write("int main(void){return 0;}\n")
        try:
            compiler.compile([src], output_dir=tmp, extra_postargs=flags)
        except Exception:
            return False
    return True


def _compiler_has_openmp(compiler):
    """Try compiling and linking a tiny OpenMP program."""
    if os.environ.get("SKLEARN_SYMNET_NO_OPENMP"):
        return False
    flag = "/openmp" if compiler.compiler_type == "msvc" else "-fopenmp"
    code = "#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_check.c")
        with open(src, "w") as f:
            f.write(code)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=[flag])
            link = [] if compiler.compiler_type == "msvc" else [flag]
            compiler.link_executable(objs, os.path.join(tmp, "omp_check"),
                                     extra_postargs=link)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        omp = _compiler_has_openmp(self.compiler)
        # Tune for the machine that builds (a source install is used where it
        # is built); SKLEARN_SYMNET_PORTABLE=1 builds for the generic target.
        native = []
        if not msvc and not os.environ.get("SKLEARN_SYMNET_PORTABLE"):
            for flag in ("-march=native", "-mcpu=native"):
                if _compiler_accepts(self.compiler, [flag]):
                    native = [flag]
                    break
        for ext in self.extensions:
            if msvc:
                ext.extra_compile_args += ["/O2"] + (["/openmp"] if omp else [])
            else:
                # -fno-math-errno lets sqrt vectorise (errno is never read);
                # -ffp-contract=off: no fused multiply-adds the source does not
                # write, so vectorised and scalar loops (and -march=native and
                # portable builds) round alike and give the same bits
                ext.extra_compile_args += ["-O3", "-fno-math-errno", "-ffp-contract=off", *native]
                ext.extra_compile_args += ["-fopenmp"] if omp else []
                ext.extra_link_args += ["-fopenmp"] if omp else []
        if not omp:
            sys.stderr.write("sklearn-symnet: building without OpenMP (one thread)\n")
        super().build_extensions()


extensions = [
    Extension(
        "sklearn_symnet._kernels",
        ["sklearn_symnet/_kernels.pyx"],
        include_dirs=[np.get_include(), "sklearn_symnet"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
