"""Each array's namespace: NumPy, PyTorch, CuPy, array-api-strict...

The engine's arithmetic is written once, against the Array API standard
(``xp.exp``, ``xp.sum``, ``@``), and takes its namespace and device from the
arrays it is given, so the same lines run on a GPU. array_api_compat supplies
the standard's names for NumPy and PyTorch; scikit-learn ships a copy of it,
which spares skscratch a dependency.
"""

from sklearn.externals.array_api_compat import array_namespace, device

__all__ = ["array_namespace", "device"]
