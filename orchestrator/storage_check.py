"""Ray's shared storage (`sweep.storage_path` as s3:// or gs://) must be reachable before the first trial.

Otherwise Tune fails at start-up with a pyarrow traceback, or trials fail at their first checkpoint.
pyarrow is the file-system layer Ray itself uses for such URIs, with the same credentials and
endpoint settings (AWS_* variables, instance profile), so this asks the same question Ray will.
"""
from __future__ import annotations

import pyarrow.fs as pafs

from lottery.errors import ConfigError


def is_remote(storage_path: str) -> bool:
    return "://" in storage_path and not storage_path.startswith("file://")


def check_storage(storage_path: str) -> None:
    """Raise a ConfigError unless the bucket of a remote storage_path exists and can be listed."""
    if not storage_path or not is_remote(storage_path):
        return
    try:
        fs, path = pafs.FileSystem.from_uri(storage_path)
        bucket = path.split("/", 1)[0]
        info = fs.get_file_info(bucket)
    except Exception as err:  # noqa: BLE001  (pyarrow raises OSError / ArrowInvalid / ValueError)
        raise ConfigError(f"sweep.storage_path {storage_path!r} is not usable: {str(err).splitlines()[0]}") from None
    if info.type == pafs.FileType.NotFound:
        raise ConfigError(
            f"sweep.storage_path {storage_path!r}: bucket {bucket!r} does not exist or is not visible with these "
            f"credentials; create it (e.g. `aws s3 mb s3://{bucket}`) or set --set sweep.storage_path=..."
        )
