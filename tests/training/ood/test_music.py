"""Music for the non-speech OOD set: valid MIDI, rendered by the real fluidsynth."""

import numpy as np

from training.ood.music import INSTRUMENTS, _random_piece, _variable_length, render_pieces


def test_variable_length_quantities_match_the_midi_specification():
    # The worked examples of the Standard MIDI File specification.
    examples = {0: "00", 0x40: "40", 0x7F: "7f", 0x80: "8100", 0x2000: "c000", 0x3FFF: "ff7f"}
    for value, encoded in examples.items():
        assert _variable_length(value).hex() == encoded
    assert _variable_length(0x0FFFFFFF).hex() == "ffffff7f"


def test_a_piece_is_a_format_zero_file_whose_track_length_is_right():
    data = _random_piece(np.random.default_rng(0), INSTRUMENTS["violin"], drums=True)
    assert data[:4] == b"MThd" and data[8:10] == b"\x00\x00"  # format 0
    assert data[14:18] == b"MTrk"
    assert int.from_bytes(data[18:22], "big") == len(data) - 22
    assert data.endswith(b"\xff\x2f\x00")  # end of track
    assert b"\xc0\x28" in data  # program change to the violin


def test_pieces_are_seeded_sounding_and_at_speech_level():
    pieces = render_pieces(3, seed=2)
    assert [name for name, _ in pieces] == list(INSTRUMENTS)[:3]
    again = render_pieces(3, seed=2)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(pieces, again, strict=True))
    assert not np.array_equal(pieces[0][1], render_pieces(1, seed=3)[0][1])
    for _, audio in pieces:
        assert audio.dtype == np.int16
        assert 1.0 < len(audio) / 16_000 < 6.0
        peak_db = 20 * np.log10(np.abs(audio).max() / 32768)
        assert -30 < peak_db < -3
