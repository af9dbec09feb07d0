"""`bcn.runtime`: the on-device runtime, from the top-level folder runtime/ of the repository.

pyproject.toml maps runtime/ to bcn.runtime (setuptools-style package-dir through
scikit-build-core), so the files here import each other as `bcn.runtime.X` and nothing
installs a top-level module called `runtime`. No TensorFlow import anywhere in this
package: a device installs the `runtime` extra alone. native/ holds the LCE delegate (C++),
compiled at install into bcn/runtime/libbcn_lce_delegate.so.
"""

from bcn.runtime.delegate import lce_delegate, library_path

__all__ = ["lce_delegate", "library_path"]
