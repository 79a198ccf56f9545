"""The parser's C fast path is optional: without a compiler the package installs pure Python."""
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: parsing falls back to pure Python
            print(f"warning: parsing._fastcore not built ({exc}); the parser runs in pure Python")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"warning: {ext.name} not built ({exc}); the parser runs in pure Python")


setup(
    ext_modules=[Extension("parsing._fastcore", ["parsing/_fastcore.c"], extra_compile_args=["-O2"], optional=True)],
    cmdclass={"build_ext": OptionalBuildExt},
)
