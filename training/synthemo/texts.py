"""The sentences SynthEmo speaks: emotionally neutral, so only prosody carries the emotion.

EmoDB's design (Burkhardt et al. 2005) is followed: everyday statements whose words
fit any emotion, spoken by every speaker in every emotion, so a classifier cannot
learn the class from the lexical content. English feeds every engine; German and
Spanish exist for language-shift tests and are spoken by espeak-ng only (flite and
festival ship English voices only). The sentences were written for this project.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sentence:
    """One text to speak.

    Attributes:
        text_id: Stable id, language prefix plus number (`en007`); it appears in the manifest.
        language: ISO 639-1 code of the text.
        text: The sentence itself.
    """

    text_id: str
    language: str
    text: str


_ENGLISH = (
    "The train to the city leaves every hour from the second platform.",
    "She put the blue folder on the table next to the window.",
    "The meeting has been moved to Thursday afternoon at three.",
    "He walked to the bakery at the corner of the street.",
    "The package arrived this morning with the other letters.",
    "They painted the kitchen wall a pale shade of green.",
    "The library closes at eight on weekdays and at five on Saturdays.",
    "My brother bought a new bicycle last week.",
    "The report is on the second shelf in the office.",
    "We will take the bus instead of the car today.",
    "The lamp on the desk needs a new bulb.",
    "There are twelve chairs in the meeting room.",
    "The river runs through the middle of the town.",
    "I left my umbrella in the hallway near the door.",
    "The shop on the main road sells fruit and vegetables.",
    "Our neighbours have a garden with three apple trees.",
    "The printer is in the room at the end of the corridor.",
    "The weather report said it will be cloudy tomorrow.",
    "She keeps the keys in the drawer under the telephone.",
    "The film starts at half past seven in the evening.",
    "He usually reads the newspaper after breakfast.",
    "The new timetable will be published on Monday.",
    "The cat is sleeping on the sofa in the living room.",
    "We need two more boxes for the books.",
    "The museum is open every day except Tuesday.",
    "The parcel has to be signed for at the front desk.",
    "The road to the village goes past the old mill.",
    "I will call you when the plane has landed.",
    "The children walk to school along the canal.",
    "Please put the cups back in the cupboard.",
    "The office is on the fourth floor of the building.",
    "The car is parked behind the supermarket.",
    "She wrote the address on the back of the envelope.",
    "There is a bench under the tree by the pond.",
    "The doctor will see you at ten tomorrow morning.",
    "He has lived in the same house for twenty years.",
    "The bread is in the basket on the counter.",
    "The company moved its offices to the harbour last spring.",
    "We usually have dinner at about seven o'clock.",
    "The black suitcase belongs to my sister.",
    "The computer will restart after the update.",
    "The bridge was built about a hundred years ago.",
    "They are going to the coast for the weekend.",
    "The tickets are valid for the whole day.",
    "The glass vase stands on the windowsill.",
    "The class begins with a short reading.",
    "My grandmother grows tomatoes in her greenhouse.",
    "The bus stop is across the road from the bank.",
    "He wrote the numbers down in his notebook.",
    "The shop opens again after the lunch break.",
    "The stairs lead down to the cellar.",
    "She is taking the early flight to Madrid.",
    "The blue car belongs to the people next door.",
    "We moved the piano into the other room.",
    "The dishwasher is finished and the plates are clean.",
    "The radio was playing in the kitchen.",
    "The form has to be returned by the end of the month.",
    "There is milk in the fridge and coffee in the tin.",
    "The path goes around the lake and back to the car park.",
    "He took the last train home on Friday night.",
    "The coats are hanging on the hooks by the door.",
    "The map shows the way to the station.",
    "She closed the window before she left the house.",
    "The water in the kettle is still warm.",
    "The bank changed its opening hours in January.",
)

_GERMAN = (
    "Der Zug in die Stadt fährt jede Stunde vom zweiten Gleis.",
    "Sie hat die blaue Mappe auf den Tisch am Fenster gelegt.",
    "Die Besprechung ist auf Donnerstag um drei verschoben worden.",
    "Er ist zur Bäckerei an der Ecke gegangen.",
    "Das Paket ist heute Morgen mit der Post gekommen.",
    "Die Küche wurde hellgrün gestrichen.",
    "Die Bibliothek schließt werktags um acht Uhr.",
    "Mein Bruder hat letzte Woche ein neues Fahrrad gekauft.",
    "Der Bericht liegt im zweiten Regal im Büro.",
    "Wir nehmen heute den Bus statt des Autos.",
    "Die Lampe auf dem Schreibtisch braucht eine neue Birne.",
    "Im Besprechungsraum stehen zwölf Stühle.",
    "Der Fluss fließt mitten durch die Stadt.",
    "Ich habe meinen Schirm im Flur neben der Tür gelassen.",
    "Das Geschäft an der Hauptstraße verkauft Obst und Gemüse.",
    "Die Nachbarn haben einen Garten mit drei Apfelbäumen.",
    "Der Drucker steht im Raum am Ende des Flurs.",
    "Morgen soll es laut Wetterbericht bewölkt sein.",
    "Die Schlüssel liegen in der Schublade unter dem Telefon.",
    "Der Film fängt um halb acht am Abend an.",
)

_SPANISH = (
    "El tren a la ciudad sale cada hora del segundo andén.",
    "Ella puso la carpeta azul en la mesa junto a la ventana.",
    "La reunión se ha cambiado al jueves a las tres.",
    "Él fue a la panadería de la esquina.",
    "El paquete llegó esta mañana con las otras cartas.",
    "Pintaron la pared de la cocina de verde claro.",
    "La biblioteca cierra a las ocho los días laborables.",
    "Mi hermano compró una bicicleta nueva la semana pasada.",
    "El informe está en la segunda estantería de la oficina.",
    "Hoy vamos a tomar el autobús en lugar del coche.",
    "La lámpara del escritorio necesita una bombilla nueva.",
    "Hay doce sillas en la sala de reuniones.",
    "El río pasa por el centro del pueblo.",
    "Dejé el paraguas en el pasillo cerca de la puerta.",
    "La tienda de la calle principal vende fruta y verdura.",
    "Los vecinos tienen un jardín con tres manzanos.",
    "La impresora está en la sala al final del pasillo.",
    "Según el pronóstico, mañana estará nublado.",
    "Las llaves están en el cajón debajo del teléfono.",
    "La película empieza a las siete y media de la tarde.",
)


def _numbered(language: str, texts: tuple[str, ...]) -> tuple[Sentence, ...]:
    return tuple(
        Sentence(f"{language}{number:03d}", language, text)
        for number, text in enumerate(texts, start=1)
    )


SENTENCES: dict[str, tuple[Sentence, ...]] = {
    "en": _numbered("en", _ENGLISH),
    "de": _numbered("de", _GERMAN),
    "es": _numbered("es", _SPANISH),
}
"""Sentences by language code; ids are stable, so only ever append to the lists above."""

LANGUAGES: tuple[str, ...] = tuple(SENTENCES)
