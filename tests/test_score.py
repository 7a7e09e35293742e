import numpy as np
import pytest

from lightrnn import CorpusError, Vocab
from lightrnn.corpus.text import encode_text, read_text


def test_encode_text_uses_whitespace_eos_and_unk():
    vocab = Vocab.build({"the": 5, "cat": 3, "sat": 2, "<eos>": 2})
    ids = encode_text(b"the cat sat\n the  dog\n", vocab)
    expected = ["the", "cat", "sat", "<eos>", "the", "<unk>", "<eos>"]
    np.testing.assert_array_equal(ids, [vocab.id_of(t) for t in expected])


def test_read_text_errors_name_the_file(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        read_text(str(tmp_path / "nope.txt"))
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(CorpusError, match="is empty"):
        read_text(str(tmp_path / "empty.txt"))
    (tmp_path / "bin.txt").write_bytes(b"ok\n\xff\xfe")
    with pytest.raises(CorpusError, match=r"not UTF-8 \(byte 3, line 2\)"):
        read_text(str(tmp_path / "bin.txt"))
