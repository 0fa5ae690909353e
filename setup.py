"""Build script: compiles the Cython kernels, with OpenMP when the compiler has it.

Without OpenMP the kernels run on one thread and give the same results.
"""

import os
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


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
        for ext in self.extensions:
            if msvc:
                ext.extra_compile_args += ["/O2"] + (["/openmp"] if omp else [])
            else:
                ext.extra_compile_args += ["-O3"] + (["-fopenmp"] if omp else [])
                ext.extra_link_args += ["-fopenmp"] if omp else []
        if not omp:
            sys.stderr.write("sklearn-symnet: building without OpenMP (one thread)\n")
        super().build_extensions()


extensions = [
    Extension(
        "sklearn_symnet._kernels",
        ["sklearn_symnet/_kernels.pyx"],
        include_dirs=[np.get_include()],
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
