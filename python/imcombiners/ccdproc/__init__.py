"""ccdproc 2.5's ``Combiner`` and ``combine``, computed by the imcombiners core.

A drop-in for ``from ccdproc import Combiner, combine``: same signatures, defaults and
results (`~astropy.nddata.CCDData` with mask and uncertainty). ccdproc's conventions are kept
here and differ from the rest of imcombiners: `Combiner.scaling` and ``scale=`` MULTIPLY the
images; `Combiner.sigma_clipping` makes one pass by default; the median's uncertainty is
``1.4826 * MAD / sqrt(n)``. Built-in statistics (``np.ma.median``, ``np.ma.mean``,
``np.median``, ``np.mean``, ``astropy.stats.mad_std``, ``np.ma.std``, ``np.std``) run in the
core; other callables work through a slower NumPy path. The differences from ccdproc are
listed in ``docs/compatibility.md`` (section "ccdproc drop-in").
"""

from ._funcs import _calculate_step_sizes, _default_std, sigma_func
from .combine import combine
from .combiner import Combiner

__all__ = ["Combiner", "_calculate_step_sizes", "_default_std", "combine", "sigma_func"]
