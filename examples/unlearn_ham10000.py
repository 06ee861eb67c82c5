"""Unlearn 10% of HAM10000 (HAM10000_metadata.csv + HAM10000_images_part_1/2) at a reduced image size.

    python examples/unlearn_ham10000.py --root /data/ham10000 --image-size 64
    python examples/unlearn_ham10000.py --root ../shared/data/ham10000 --only-available   # a sample

Train/test and retain/forget splits are group-aware: no lesion_id is on both sides. License: CC BY-NC-SA 4.0;
get it from Harvard Dataverse, doi:10.7910/DVN/DBW86T.
"""

from _unlearn_common import main_for

from masimu_env import datasets
from masimu_env.argtypes import positive_int


def make(args):
    kw = dict(root=args.root, image_size=args.image_size, cache_dir=args.cache_dir)
    if args.only_available:
        kw["missing"] = "skip"
    return datasets.load("ham10000", split="train", **kw), datasets.load("ham10000", split="test", **kw)


def extra(p):
    p.add_argument("--image-size", type=positive_int, default=64, help="resize the 600x450 photos to this side")
    p.add_argument("--cache-dir", default=None, help="cache decoded images here")
    p.add_argument("--only-available", action="store_true",
                   help="keep only CSV rows whose image file exists (for partial copies); warns how many were skipped")


if __name__ == "__main__":
    main_for("ham10000", __doc__.splitlines()[0], make, extra)
