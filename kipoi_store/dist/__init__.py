"""Moving store content between places: the one mirror layout (layout.py), tar bundles and mirror
directories written (export.py) and read (bundleimport.py), HTTP and folder mirrors asked before any
origin (mirrors.py). Above store/ and net/, below git/, lfs/ and models/, which ask mirrors first.
"""
