"""Shard files (one int32 column, metadata, sha256) and the memory-mapped stream over them."""

from __future__ import annotations

import hashlib
import json

import fsspec
import numpy as np
import pyarrow as pa
import pytest

from lightrnn.corpus.shards import (
    MANIFEST,
    ShardStream,
    ShardWriter,
    SplitInfo,
    corpus_digest,
    manifest_json,
    open_split,
)
from lightrnn.errors import DataError


def write_split(root, ids: np.ndarray, shard_tokens: int, chunk: int) -> SplitInfo:
    fs = fsspec.filesystem("file")
    with ShardWriter(fs, str(root), "train", shard_tokens, "v" * 64) as writer:
        for start in range(0, len(ids), chunk):
            writer.write(ids[start : start + chunk])
        shards = writer.close()
    info = SplitInfo(len(ids), 0, 0, 0, writer.sha256, "src", shards)
    digest = corpus_digest("v" * 64, {"train": info})
    vocab = {"file": "vocab.arrow", "size": 0, "digest": "v" * 64, "sha256": ""}
    (root / MANIFEST).write_bytes(manifest_json(digest, vocab, {"train": info}, {}, {}))
    return info


def test_writer_cuts_bounded_shards_with_metadata(tmp_path) -> None:
    ids = np.arange(10, dtype=np.int32)
    info = write_split(tmp_path, ids, shard_tokens=4, chunk=3)
    assert [s.tokens for s in info.shards] == [4, 4, 2]
    assert [s.file for s in info.shards] == [f"train/0000{k}.arrow" for k in range(3)]
    assert info.sha256 == hashlib.sha256(ids.astype("<i4").tobytes()).hexdigest()
    for k, shard in enumerate(info.shards):
        data = (tmp_path / shard.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard.sha256
        reader = pa.ipc.open_file(pa.py_buffer(data))
        meta = {key.decode(): v.decode() for key, v in reader.schema.metadata.items()}
        part = ids[4 * k : 4 * k + 4]
        assert meta == {
            "format": "lightrnn.shard/1",
            "split": "train",
            "index": str(k),
            "start": str(4 * k),
            "tokens": str(len(part)),
            "vocab_digest": "v" * 64,
            "ids_sha256": hashlib.sha256(part.tobytes()).hexdigest(),
        }
        assert reader.schema.field("ids").type == pa.int32()
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == [
        "00000.arrow",
        "00001.arrow",
        "00002.arrow",
    ]  # fmt: skip  (no temporary file left behind)


def test_stream_slices_across_shards(tmp_path) -> None:
    ids = (np.arange(1000, dtype=np.int32) * 7) % 101
    write_split(tmp_path, ids, shard_tokens=64, chunk=50)
    stream = open_split(str(tmp_path), "train")
    assert isinstance(stream, ShardStream)
    assert len(stream) == 1000
    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b = sorted(rng.integers(-5, 1006, 2))
        np.testing.assert_array_equal(stream[a:b], ids[a:b])
    np.testing.assert_array_equal(stream[:], ids)
    np.testing.assert_array_equal(stream[-70:-3], ids[-70:-3])
    assert stream[5:5].shape == (0,) and stream[9:3].dtype == np.int32
    assert stream[63] == ids[63] and stream[64] == ids[64] and stream[-1] == ids[-1]
    with pytest.raises(IndexError):
        stream[1000]
    with pytest.raises(DataError, match="step"):
        stream[::2]


def test_stream_is_memory_mapped_and_slices_are_copies(tmp_path) -> None:
    ids = np.arange(100, dtype=np.int32)
    write_split(tmp_path, ids, shard_tokens=40, chunk=100)
    stream = open_split(str(tmp_path), "train")
    assert all(not part.flags.owndata and not part.flags.writeable for part in stream._parts)
    window = stream[3:9]
    assert window.flags.owndata and window.flags.writeable


def test_verify_detects_a_corrupt_shard(tmp_path) -> None:
    write_split(tmp_path, np.arange(100, dtype=np.int32), shard_tokens=40, chunk=100)
    open_split(str(tmp_path), "train", verify=True)
    path = tmp_path / "train" / "00001.arrow"
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"00001.arrow' has sha256 .* the file is corrupt"):
        open_split(str(tmp_path), "train", verify=True)


def test_open_split_errors(tmp_path) -> None:
    with pytest.raises(DataError, match=r"holds no finished prepared corpus \(manifest.json is"):
        open_split(str(tmp_path), "train")
    write_split(tmp_path, np.arange(10, dtype=np.int32), shard_tokens=4, chunk=10)
    with pytest.raises(DataError, match=r"has no split 'valid': it holds train"):
        open_split(str(tmp_path), "valid")
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["vocab"]["digest"] = "w" * 64
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"does not match the manifest"):
        open_split(str(tmp_path), "train")
    (tmp_path / "train" / "00002.arrow").unlink()
    manifest["vocab"]["digest"] = "v" * 64
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"00002.arrow' listed in the manifest is missing"):
        open_split(str(tmp_path), "train")
