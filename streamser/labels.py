"""The emotion vocabulary shared by corpora, models and events.

Corpora name their classes in their own words (EmoDB's "Freude", IEMOCAP's
"exc"); loaders map them onto these names so that models trained on one corpus
speak the same labels as the runtime and as every other corpus.
"""

NEUTRAL = "neutral"
HAPPY = "happy"
ANGRY = "angry"
SAD = "sad"
FEAR = "fear"
DISGUST = "disgust"
SURPRISE = "surprise"
BOREDOM = "boredom"
CALM = "calm"

EMOTIONS: tuple[str, ...] = (NEUTRAL, HAPPY, ANGRY, SAD, FEAR, DISGUST, SURPRISE, BOREDOM, CALM)
"""Every emotion name a corpus loader may emit."""

FOUR_CLASS: tuple[str, ...] = (NEUTRAL, HAPPY, ANGRY, SAD)
"""The usual 4-class set (IEMOCAP protocol; the bundled model's classes)."""
SEVEN_CLASS: tuple[str, ...] = (*FOUR_CLASS, FEAR, DISGUST, BOREDOM)
"""The four, plus the three more that acted corpora such as EmoDB label."""

MALE = "male"
FEMALE = "female"
UNKNOWN_GENDER = "unknown"
GENDERS: tuple[str, ...] = (MALE, FEMALE, UNKNOWN_GENDER)
