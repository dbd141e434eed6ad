"""Maps the root folders compiler/, hwspec/, runtime/ to snnc.compiler, snnc.hwspec, snnc.runtime.

The package list is computed so that a new subpackage can never be silently left out of the wheel.
"""
from setuptools import find_namespace_packages, setup

ROOTS = ("compiler", "hwspec", "runtime")

packages = []
package_dir = {}
for root in ROOTS:
    for pkg in [root] + [f"{root}.{p}" for p in find_namespace_packages(where=root, exclude=["*__pycache__*"])]:
        name = "snnc." + pkg
        packages.append(name)
        package_dir[name] = pkg.replace(".", "/")

setup(packages=packages, package_dir=package_dir)
