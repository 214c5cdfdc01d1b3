"""Channel simulations shared by SynthEmo conditions, training augmentation and evaluation.

A channel changes how speech reaches the model, not the speaker: the room it is
spoken in (`reverberate`) and the phone line it travels over (`telephone`: 8 kHz,
300-3400 Hz, G.711 mu-law or A-law). All functions take and return 16 kHz float32.
"""

from __future__ import annotations

import numpy as np

from streamser.audio import g711
from streamser.audio.formats import float_to_int16, int16_to_float
from streamser.constants import SAMPLE_RATE_HZ

TELEPHONE_RATE_HZ = 8_000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
G711_LAWS = ("mulaw", "alaw")

# Direct path 3 dB above the reverberant tail: a talker a metre or two from a
# speakerphone or a far-field microphone. Headsets sit well above this.
DEFAULT_DIRECT_TO_REVERB_DB = 3.0

_G711 = {
    "mulaw": (g711.mulaw_encode, g711.mulaw_decode),
    "alaw": (g711.alaw_encode, g711.alaw_decode),
}
# An amplitude that falls by ln(1000) nepers has fallen by 60 dB.
_LN_60_DB = float(np.log(1000.0))


def _bandpass_taps(rate_hz: int, low_hz: float, high_hz: float, taps: int = 255) -> np.ndarray:
    """Windowed-sinc FIR band-pass (difference of two low-passes, Blackman window)."""
    n = np.arange(taps) - (taps - 1) / 2

    def lowpass(cutoff_hz: float) -> np.ndarray:
        return 2 * cutoff_hz / rate_hz * np.sinc(2 * cutoff_hz / rate_hz * n)

    return (lowpass(high_hz) - lowpass(low_hz)) * np.blackman(taps)


_TELEPHONE_TAPS = _bandpass_taps(TELEPHONE_RATE_HZ, *TELEPHONE_BAND_HZ)


def g711_round_trip(samples: np.ndarray, law: str = "mulaw") -> np.ndarray:
    """`samples` (float, any rate) through a G.711 encoder and decoder: 8-bit companding noise.

    Clips at full scale like a real codec. `law` is "mulaw" (North America, Japan)
    or "alaw" (Europe and most of the rest).
    """
    try:
        encode, decode = _G711[law]
    except KeyError:
        raise ValueError(f"unknown G.711 law {law!r} (accepted: {', '.join(G711_LAWS)})") from None
    return int16_to_float(decode(encode(float_to_int16(samples))))


def telephone(samples: np.ndarray, law: str = "mulaw", *, keep_length: bool = True) -> np.ndarray:
    """A narrow-band call leg: 8 kHz, 300-3400 Hz, G.711 round trip, back to 16 kHz.

    Args:
        samples: 16 kHz audio.
        law: G.711 companding, "mulaw" or "alaw".
        keep_length: Return exactly `len(samples)` samples. False returns what the
            8 kHz leg gives: one sample more for odd lengths, and 510 samples for
            inputs shorter than the FIR (how SynthEmo corpora were made, kept so
            they regenerate byte for byte).
    """
    import soxr

    if samples.size == 0:
        return np.zeros(0, np.float32)  # np.convolve refuses empty input
    narrow = soxr.resample(samples.astype(np.float32), SAMPLE_RATE_HZ, TELEPHONE_RATE_HZ, "HQ")
    narrow = np.convolve(narrow, _TELEPHONE_TAPS, mode="same")
    decoded = g711_round_trip(narrow, law)
    wide = np.asarray(
        soxr.resample(decoded, TELEPHONE_RATE_HZ, SAMPLE_RATE_HZ, "HQ"), dtype=np.float32
    )
    if keep_length and wide.size != samples.size:
        wide = np.pad(wide[: samples.size], (0, max(samples.size - wide.size, 0)))
    return wide


def room_impulse_response(
    rt60_s: float,
    rng: np.random.Generator,
    direct_to_reverb_db: float = DEFAULT_DIRECT_TO_REVERB_DB,
    rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """A synthetic room: a unit direct-path impulse, then exponentially decaying noise.

    The tail's energy falls by 60 dB in `rt60_s` (the response stops there) and
    sums to `direct_to_reverb_db` below the direct path's.
    """
    if not rt60_s > 0:
        raise ValueError(f"rt60_s must be positive, got {rt60_s}")
    length = max(round(rt60_s * rate_hz), 2)
    t = np.arange(1, length) / rate_hz
    tail = rng.standard_normal(length - 1) * np.exp(-_LN_60_DB / rt60_s * t)
    tail *= 10.0 ** (-direct_to_reverb_db / 20.0) / np.sqrt(np.sum(tail**2))
    return np.concatenate(([1.0], tail))


def reverberate(
    audio: np.ndarray,
    rt60_s: float,
    rng: np.random.Generator,
    direct_to_reverb_db: float = DEFAULT_DIRECT_TO_REVERB_DB,
) -> np.ndarray:
    """`audio` (16 kHz) spoken in a room with reverberation time `rt60_s`.

    FFT convolution with `room_impulse_response`; the output keeps the input's
    length (the tail past the end is cut) and RMS level, and stays time-aligned
    (the direct path has no delay).
    """
    ir = room_impulse_response(rt60_s, rng, direct_to_reverb_db)
    if audio.size == 0:
        return audio.astype(np.float32)
    x = audio.astype(np.float64)
    size = _fft_length(x.size + ir.size - 1)
    wet = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[: x.size]
    wet *= np.sqrt((np.sum(x**2) + 1e-20) / (np.sum(wet**2) + 1e-20))
    return wet.astype(np.float32)


def _fft_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: pocketfft is fast there, and it pads less than 2^a."""
    best = 1 << max(n - 1, 0).bit_length()
    five = 1
    while five < best:
        three = five
        while three < best:
            two = three << max(-(-n // three) - 1, 0).bit_length()
            best = min(best, two)
            three *= 3
        five *= 5
    return best
