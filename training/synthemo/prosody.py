"""Emotion as prosody: rules from the emotional speech synthesis literature, plus jitter.

Each emotion is a change relative to the voice's neutral rendering: mean F0, F0 range,
speaking rate, intensity and voice quality. Directions come from the published
rule sets and perception studies named at each rule:

- Murray & Arnott (1993), "Toward the simulation of emotion in synthetic speech",
  JASA 93(2), Table I (the qualitative summary of human vocal emotion effects).
- Burkhardt & Sendlmeier (2000), "Verification of acoustical correlates of emotional
  speech using formant-synthesis", ISCA ITRW Speech and Emotion (systematic
  variation of F0 level/range, tempo and phonation, judged by listeners).
- Schröder (2001), "Emotional speech synthesis: a review", Eurospeech, Table 1
  (the side-by-side summary of the rule sets, including Cahn 1990 and
  Mozziconacci 1998, used here for surprise and boredom).

Magnitudes are picked inside the ranges those works report and kept moderate, because
diphone and HMM voices break up under the extreme settings a formant synthesiser
tolerates. Per-utterance jitter (`JitterOptions`) then spreads each class so that
classes overlap as acted speech does, instead of forming separable clusters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from streamser import labels


@dataclass(frozen=True)
class VoiceQuality:
    """Voice-quality colouring, rendered with sox effects after synthesis.

    Attributes:
        overdrive_gain_db: sox `overdrive` gain; harmonic distortion as a stand-in for
            tense, harsh phonation. 0 disables.
        tremolo_hz: sox `tremolo` speed; amplitude modulation as a stand-in for
            irregular voicing. 0 disables.
        tremolo_depth_pct: sox `tremolo` depth in percent.
        lowpass_hz: sox `lowpass` cut-off; a steeper spectral tilt as a stand-in for lax
            or breathy phonation. 0 disables.
        treble_db: sox `treble` shelf gain at 3 kHz; positive flattens the spectral tilt
            (tense, "blaring" voice), negative steepens it.
        bass_db: sox `bass` shelf gain at 100 Hz; positive for a "chest tone".
    """

    overdrive_gain_db: float = 0.0
    tremolo_hz: float = 0.0
    tremolo_depth_pct: float = 0.0
    lowpass_hz: float = 0.0
    treble_db: float = 0.0
    bass_db: float = 0.0

    def sox_effects(self) -> list[str]:
        """The sox effect arguments, in a fixed order so renders are reproducible."""
        effects: list[str] = []
        if self.bass_db:
            effects += ["bass", f"{self.bass_db:+.2f}"]
        if self.treble_db:
            effects += ["treble", f"{self.treble_db:+.2f}"]
        if self.lowpass_hz:
            effects += ["lowpass", f"{self.lowpass_hz:.0f}"]
        if self.overdrive_gain_db:
            effects += ["overdrive", f"{self.overdrive_gain_db:.2f}", "20"]
        if self.tremolo_hz and self.tremolo_depth_pct:
            effects += ["tremolo", f"{self.tremolo_hz:.2f}", f"{self.tremolo_depth_pct:.1f}"]
        return effects


@dataclass(frozen=True)
class Prosody:
    """What a renderer applies to one utterance, relative to the voice's neutral.

    Attributes:
        f0_ratio: Mean F0 over the neutral mean (1.25 = 25 % higher).
        range_ratio: F0 range (standard deviation) over the neutral range.
        rate_ratio: Speaking rate over the neutral rate (above 1 is faster).
        gain_db: Intensity relative to the neutral speech level.
        quality: Voice-quality effects.
    """

    f0_ratio: float = 1.0
    range_ratio: float = 1.0
    rate_ratio: float = 1.0
    gain_db: float = 0.0
    quality: VoiceQuality = VoiceQuality()

    def __post_init__(self) -> None:
        if min(self.f0_ratio, self.range_ratio, self.rate_ratio) <= 0:
            raise ValueError(f"prosody ratios must be positive: {self}")


RULES: dict[str, Prosody] = {
    # The reference every other rule is relative to.
    labels.NEUTRAL: Prosody(),
    # Murray & Arnott 1993: pitch much higher, range much wider, rate faster,
    # intensity higher, "breathy, blaring" quality. Burkhardt & Sendlmeier 2000:
    # joy needs raised F0 level and a much wider range, slightly faster tempo.
    labels.HAPPY: Prosody(
        f0_ratio=1.22,
        range_ratio=1.7,
        rate_ratio=1.08,
        gain_db=3.0,
        quality=VoiceQuality(treble_db=3.0),
    ),
    # Murray & Arnott 1993 (anger): pitch very much higher, range much wider, rate
    # slightly faster, intensity higher, tense articulation. Burkhardt & Sendlmeier
    # 2000 (hot anger): tense phonation and faster tempo; tense voice here is
    # overdrive plus a flatter spectral tilt.
    labels.ANGRY: Prosody(
        f0_ratio=1.28,
        range_ratio=1.5,
        rate_ratio=1.12,
        gain_db=6.0,
        quality=VoiceQuality(overdrive_gain_db=6.0, treble_db=4.0),
    ),
    # Murray & Arnott 1993 (sorrow): slightly slower, slightly lower pitch, narrower
    # range, lower intensity, downward inflections. Burkhardt & Sendlmeier 2000:
    # lowered F0, narrow range, slow tempo, breathy (lax) phonation -> lowpass.
    labels.SAD: Prosody(
        f0_ratio=0.88,
        range_ratio=0.6,
        rate_ratio=0.80,
        gain_db=-6.0,
        quality=VoiceQuality(lowpass_hz=3200.0, treble_db=-3.0),
    ),
    # Murray & Arnott 1993: rate much faster, pitch very much higher, range much wider,
    # intensity normal, irregular voicing. Burkhardt & Sendlmeier 2000: fear needs the
    # largest F0 raise, faster tempo and falsetto -> highest F0 rule; tremolo stands in
    # for irregular voicing.
    labels.FEAR: Prosody(
        f0_ratio=1.42,
        range_ratio=1.25,
        rate_ratio=1.22,
        gain_db=0.0,
        quality=VoiceQuality(tremolo_hz=7.0, tremolo_depth_pct=35.0),
    ),
    # Murray & Arnott 1993: very much slower, pitch very much lower, range slightly
    # wider, intensity lower, "grumbled chest tone" -> bass shelf, mild overdrive.
    labels.DISGUST: Prosody(
        f0_ratio=0.86,
        range_ratio=1.15,
        rate_ratio=0.80,
        gain_db=-2.0,
        quality=VoiceQuality(bass_db=4.0, overdrive_gain_db=3.0, lowpass_hz=4000.0),
    ),
    # Cahn 1990 and Montero et al. 1999, as tabulated by Schröder 2001: higher mean F0,
    # much wider range, faster rate, a little louder.
    labels.SURPRISE: Prosody(
        f0_ratio=1.32,
        range_ratio=1.9,
        rate_ratio=1.06,
        gain_db=2.0,
        quality=VoiceQuality(treble_db=2.0),
    ),
    # Mozziconacci 1998 and Burkhardt & Sendlmeier 2000 (boredom): lower F0, much
    # narrower range (near monotone), slower tempo, lower intensity, lax voice.
    labels.BOREDOM: Prosody(
        f0_ratio=0.90,
        range_ratio=0.45,
        rate_ratio=0.82,
        gain_db=-4.0,
        quality=VoiceQuality(lowpass_hz=3800.0, treble_db=-2.0),
    ),
}
"""Emotion -> prosody relative to neutral; the emotions SynthEmo can render."""

EMOTIONS: tuple[str, ...] = tuple(RULES)


@dataclass(frozen=True)
class JitterOptions:
    """Per-utterance spread around each rule, so classes overlap like acted speech.

    Attributes:
        f0_semitones: Standard deviation of the mean-F0 change, in semitones.
        range_fraction: Standard deviation of log(range ratio).
        rate_fraction: Standard deviation of log(rate ratio).
        gain_db: Standard deviation of the intensity change.
        quality_fraction: Relative standard deviation of each voice-quality parameter.
    """

    f0_semitones: float = 1.2
    range_fraction: float = 0.2
    rate_fraction: float = 0.07
    gain_db: float = 1.5
    quality_fraction: float = 0.25

    def __post_init__(self) -> None:
        if (
            min(
                self.f0_semitones,
                self.range_fraction,
                self.rate_fraction,
                self.gain_db,
                self.quality_fraction,
            )
            < 0
        ):
            raise ValueError(f"jitter spreads must not be negative: {self}")


def _scaled(rng: np.random.Generator, value: float, fraction: float) -> float:
    return value * math.exp(fraction * float(rng.standard_normal())) if value else 0.0


def sample_prosody(
    emotion: str, rng: np.random.Generator, jitter: JitterOptions = JitterOptions()
) -> Prosody:
    """The rule for `emotion` with one utterance's worth of random jitter.

    The number and order of draws is fixed per call, so a job's prosody depends only on
    the generator's seed, never on which other jobs ran.
    """
    rule = RULES[emotion]
    draws = rng.standard_normal(4)
    q = rule.quality
    quality = replace(
        q,
        overdrive_gain_db=_scaled(rng, q.overdrive_gain_db, jitter.quality_fraction),
        tremolo_hz=_scaled(rng, q.tremolo_hz, jitter.quality_fraction / 2),
        tremolo_depth_pct=min(_scaled(rng, q.tremolo_depth_pct, jitter.quality_fraction), 80.0),
        lowpass_hz=_scaled(rng, q.lowpass_hz, jitter.quality_fraction / 2),
        treble_db=q.treble_db + jitter.quality_fraction * 4.0 * float(rng.standard_normal())
        if q.treble_db
        else 0.0,
        bass_db=_scaled(rng, q.bass_db, jitter.quality_fraction),
    )
    return Prosody(
        f0_ratio=float(
            np.clip(rule.f0_ratio * 2 ** (jitter.f0_semitones * draws[0] / 12), 0.6, 2.0)
        ),
        range_ratio=float(
            np.clip(rule.range_ratio * math.exp(jitter.range_fraction * draws[1]), 0.2, 3.0)
        ),
        rate_ratio=float(
            np.clip(rule.rate_ratio * math.exp(jitter.rate_fraction * draws[2]), 0.6, 1.6)
        ),
        gain_db=float(np.clip(rule.gain_db + jitter.gain_db * draws[3], -12.0, 10.0)),
        quality=quality,
    )
