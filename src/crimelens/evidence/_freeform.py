"""A small hand-written set of first-person witness statements, for an honest PERSON check.

The generated narratives (:mod:`crimelens.evidence._narratives`) always put a
cue (a title, a role, a reporting verb) near each name, and the rules were
written knowing those templates. These statements were written by hand in a
different voice, with names in free positions, to show what the rules alone
miss and what the statistical NER adds. Only PERSON is labelled.
"""

from __future__ import annotations

__all__ = ["FREEFORM_STATEMENTS"]

#: (statement, names planted in it)
FREEFORM_STATEMENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Me and Keisha Broussard were walking home from work when the car pulled up.", ("Keisha Broussard",)),
    ("My neighbor's boyfriend, a guy everyone calls Marcus Delacroix, kept banging on the door.",
     ("Marcus Delacroix",)),
    ("Yesterday Priya Raman texted me a picture of the car.", ("Priya Raman",)),
    ("The lady from the laundromat, Olga Petrenko I think, saw everything.", ("Olga Petrenko",)),
    ("We handed the bag to Tomasz Zielinski at the counter and left.", ("Tomasz Zielinski",)),
    ("Around noon Fatima Qureshi showed up with her brother.", ("Fatima Qureshi",)),
    ("Honestly I don't trust Svetlana Morozova or anyone she hangs out with.", ("Svetlana Morozova",)),
    ("Ask Benjamin Adebayo from the gym, he was there too.", ("Benjamin Adebayo",)),
    ("Later that night Luis Echeverria came back with two other guys.", ("Luis Echeverria",)),
    ("I told Hannah Lindqvist to lock the door but she didn't listen.", ("Hannah Lindqvist",)),
    ("It was after midnight, maybe one, when I heard Andre Whitfield yelling outside.", ("Andre Whitfield",)),
    ("My roommate Camila Restrepo called the police, not me.", ("Camila Restrepo",)),
    ("I've known Kwame Asante since high school and he would never do that.", ("Kwame Asante",)),
    ("The guy in the red hoodie looked like Dmitri Volkov from down the street.", ("Dmitri Volkov",)),
    ("Please contact my daughter Ngozi Eze if you need anything else from me.", ("Ngozi Eze",)),
    ("Then Rosa Villanueva grabbed my arm and pulled me inside.", ("Rosa Villanueva",)),
    ("I lent my phone to Cedric Fontaine last week and never got it back.", ("Cedric Fontaine",)),
    ("Everybody on the block knows Tyrone Mabry sells out of that garage.", ("Tyrone Mabry",)),
    ("My ex, Bridget O'Malley, has a key to the apartment.", ("Bridget O'Malley",)),
    ("Nobody was home except my grandmother, Leticia Ybarra, who is 84.", ("Leticia Ybarra",)),
)
