import glob
import os
import re

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "kipoi_store", "__init__.py")) as f:
    version = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)

setup(
    name="kipoi_store",
    version=version,
    description="Model sources and a content-addressed store for the Kipoi model zoo",
    long_description=open(os.path.join(here, "README.md")).read(),
    long_description_content_type="text/markdown",
    packages=find_packages(exclude=["tests", "tests.*"]),
    include_package_data=True,
    package_data={"kipoi_store": ["demo/**/*", "demo/*"]},
    # Scripts, not entry points: setuptools writes the real interpreter into their shebangs, which
    # saves the ~80 ms a pyenv shim or a console-script wrapper adds to every command.
    scripts=sorted(glob.glob("bin/kipoi*")),
    python_requires=">=3.10",
    install_requires=["PyYAML>=5.1", "diskcache>=5", "requests>=2.20", "Jinja2>=2.10"],
    extras_require={"test": ["pytest>=7", "hypothesis>=6"]},
)
