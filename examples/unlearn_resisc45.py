"""Unlearn 10% of NWPU-RESISC45 (NWPU-RESISC45/<class>/<class>_NNN.jpg) at a reduced image size.

    python examples/unlearn_resisc45.py --root /data/resisc45 --image-size 64

RESISC45 has no official split: the reader makes a seeded, stratified 85/15 split (paper Table 3).
Get it from the authors (NWPU) or torchgeo's mirror; see `masimu datasets`.
"""

from _unlearn_common import main_for

from masimu_env import datasets
from masimu_env.argtypes import positive_int


def make(args):
    kw = dict(root=args.root, image_size=args.image_size, cache_dir=args.cache_dir)
    return datasets.load("resisc45", split="train", **kw), datasets.load("resisc45", split="test", **kw)


def extra(p):
    p.add_argument("--image-size", type=positive_int, default=64, help="resize the 256x256 JPEGs to this side")
    p.add_argument("--cache-dir", default=None, help="cache decoded images here (second run skips JPEG decoding)")


if __name__ == "__main__":
    main_for("resisc45", __doc__.splitlines()[0], make, extra)
