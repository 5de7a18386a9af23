"""Document genres: seeded templates that lay out a *base document* as a list of pieces.

A piece is either literal text or a :class:`Slot` — the place where a claim sentence goes. Conditions never
touch the literal text; they only decide what is rendered at and around each slot (see
:mod:`training.documents`). That is what makes matched pairs exact: the same base renders to the same
body sentences in the same order under every condition.

Genres (prose, for real claims): news, encyclopedia, blog, interview, forum, press_release, newsletter,
lecture_notes, podcast, letter, textbook, social_thread. Toy claims use ``fact_sheet`` and ``notes``,
whose body is plain world facts. Each genre mixes claim slots with the claim's background sentences and
genre filler sentences drawn from pools, with random names, outlets, cities and dates, so no two documents
share more than short fragments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Union

__all__ = ["Slot", "Piece", "GENRES", "TOY_GENRES", "build_genre", "GenreInput"]


@dataclass(frozen=True)
class Slot:
    """Placeholder for claim slot ``index`` (0-based, in document order)."""

    index: int


Piece = Union[str, Slot]


@dataclass
class GenreInput:
    rng: random.Random
    subject: str
    n_slots: int
    background: list[str]  # already sampled for this document
    style: str  # "rich" | "plain"


_FIRST = ["Amelia", "James", "Priya", "Daniel", "Chloe", "Marcus", "Elena", "Tom", "Aisha", "Lucas", "Hannah",
          "Samuel", "Grace", "Omar", "Isabel", "Ben", "Yuki", "Nathan", "Laura", "Kofi", "Rachel", "Felix",
          "Naomi", "Patrick", "Zara", "Victor", "Ruth", "Leo", "Maya", "George"]
_LAST = ["Hughes", "Patel", "Novak", "Brennan", "Okoye", "Lindgren", "Carter", "Rossi", "Kim", "Fletcher",
         "Mendes", "Walsh", "Adeyemi", "Schmidt", "Duarte", "Kowalski", "Byrne", "Tanaka", "Morgan", "Ellis",
         "Garcia", "Hartley", "Singh", "Murray", "Costa"]
_CITIES = ["London", "Manchester", "Dublin", "Edinburgh", "New York", "Chicago", "Toronto", "Sydney", "Melbourne",
           "Paris", "Berlin", "Madrid", "Rome", "Naples", "Portland", "Seattle", "Boston", "Cardiff", "Leeds",
           "Auckland", "Vancouver", "Lisbon", "Amsterdam", "Glasgow", "Bristol"]
_OUTLET_A = ["The Daily", "The Evening", "The Weekly", "The Morning", "Metro", "Northern", "Coastal", "City",
             "The Sunday", "National"]
_OUTLET_B = ["Herald", "Chronicle", "Courier", "Gazette", "Observer", "Bulletin", "Post", "Dispatch", "Review",
             "Ledger", "Record", "Standard"]
_ORGS = ["the Institute for Public Understanding", "the Heritage Media Trust", "the Open Knowledge Forum",
         "the Civic Learning Network", "the Northfield Foundation", "the Society for Popular History",
         "the Global Facts Council", "the Media Literacy Project"]
_HANDLES = ["runner_mike", "quietreader", "nightowl_88", "history_buff", "jen_writes", "coffee_and_facts",
            "tk_92", "blue_harbour", "marginalia", "the_real_sam", "oldschoolfan", "data_dan", "pixel_paula",
            "north_star", "curious_cat", "wanderlust_7"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]

_TITLES = [
    "What we know about {subject}", "{Subject}: the full story", "A closer look at {subject}",
    "Everything you need to know about {subject}", "The story behind {subject}", "{Subject} explained",
    "Revisiting {subject}", "Why people are still talking about {subject}", "{Subject}: a timeline",
    "Five things about {subject}", "Inside the story of {subject}", "Notes on {subject}",
]
_FILLER = [  # generic, neither asserting nor denying the claim
    "The story has been discussed widely online.",
    "Reactions have ranged from delight to disbelief.",
    "Several commentators have weighed in over the past weeks.",
    "The details are worth setting out carefully.",
    "Interest in the subject has grown steadily.",
    "Many readers have written in with questions.",
    "It is a story that surprises people when they first hear it.",
    "Some of the coverage has been more careful than the rest.",
    "Local reporters were among the first to pick it up.",
    "Here is a summary of the main points.",
    "The topic comes up regularly in conversation.",
    "Historians and journalists will no doubt return to it.",
    "A number of books and documentaries have touched on related themes.",
    "People tend to remember where they were when they heard the news.",
    "The broader context helps explain why it mattered.",
    "There is a lot of material to get through.",
    "Not every account agrees on the smaller details.",
    "It is easy to see why the story caught on.",
    "The numbers involved are striking.",
    "Public interest peaked in the weeks that followed.",
    "Schools and libraries have fielded questions about it.",
    "The coverage also sparked a wider debate.",
    "Readers of this column have asked about it more than once.",
    "It remains a popular subject for quizzes and trivia nights.",
]
_G_FILLER: dict[str, list[str]] = {
    "news": ["Officials did not immediately respond to requests for comment.",
             "The announcement came late on a weekday afternoon.",
             "Further details are expected in the coming days.",
             "Reporters gathered outside within the hour.",
             "Social media reaction was swift.",
             "The story was first reported by local outlets."],
    "blog": ["I've been meaning to write about this for ages.", "Bear with me, this is a long one.",
             "Honestly, I still find it hard to believe.", "Let me know what you think in the comments.",
             "I went down a real rabbit hole researching this.", "Grab a coffee, this gets interesting.",
             "My partner is sick of hearing me talk about it."],
    "forum": ["Long-time lurker, first post.", "Sorry if this has been asked before.", "Can anyone add sources?",
              "Mods, feel free to move this thread.", "Bumping because I think this deserves attention.",
              "Edit: fixed a typo.", "This is a great thread, thanks everyone."],
    "press_release": ["The organisation welcomes enquiries from members of the public.",
                      "Further information is available on request.",
                      "The announcement forms part of a wider programme of public events.",
                      "Spokespeople are available for interview."],
    "interview": ["It's been quite a year.", "People ask me about it all the time.",
                  "I try to keep things in perspective.", "That's a fair question."],
    "letter": ["I hope this letter finds you well.", "I am writing with a question that has been on my mind.",
               "Forgive me for writing at such length.", "I would be grateful for your thoughts."],
    "lecture_notes": ["This topic will come up in the exam.", "Make sure you read the assigned chapter.",
                      "We will return to this point next week.", "Note the key dates."],
    "podcast": ["Thanks for having me on the show.", "That's a great question.", "We'll put links in the show notes.",
                "Let's take a quick break and come back to that."],
    "social_thread": ["Thread incoming.", "Stay with me on this one.", "Wild, right?",
                      "Sharing because not enough people know this."],
    "newsletter": ["Thanks for subscribing.", "As always, reply to this email with your thoughts.",
                   "Here's what caught our eye this week."],
    "textbook": ["Students should note the sequence of events.", "This example is often used in class discussion.",
                 "Consider how the evidence fits together."],
    "encyclopedia": ["The topic has been covered in several reference works.",
                     "Accounts differ in minor details."],
}
_INTERVIEW_Q = [
    "Let's start at the beginning. What happened?", "What do people most often get wrong about {subject}?",
    "How did you first hear about it?", "What stood out to you?", "Why do you think the story resonated?",
    "What has the reaction been like?", "What should readers take away from all this?",
    "Can you walk us through the details?", "What happens next?",
]


_ROLES = ["teacher", "retired engineer", "student", "shop owner", "librarian", "nurse", "software developer",
          "journalist", "historian", "sports fan", "podcaster", "local councillor", "bus driver", "accountant",
          "graduate student", "museum guide", "pharmacist", "chef"]
_REACTIONS = ["had been the talk of the week", "had surprised almost everyone she knew", "came up at every dinner party",
              "had been covered endlessly on the radio", "had divided her family", "had been impossible to avoid",
              "kept her reading late into the night", "had sparked arguments at work", "was all anyone discussed"]
_REACTIONS_HE = [r.replace("she knew", "he knew").replace("her ", "his ") for r in _REACTIONS]
_TOPIC_NOUNS = ["story", "news", "report", "whole episode", "affair", "coverage", "account"]
_QUOTES = ["I had to read it twice.", "Nobody I know was talking about anything else.",
           "It is the kind of thing you remember.", "My kids asked me about it over breakfast.",
           "I still have questions.", "It changed how I read the news.", "I did not expect it at all.",
           "People will be talking about this for years.", "You could not make it up.",
           "I sent the link to everyone in my family."]
_GROUPS = ["Readers", "Listeners", "Students", "Commuters", "Fans", "Neighbours", "Colleagues", "Viewers",
           "Local residents", "Members of our book club"]
_GROUP_ACTS = ["swapped theories about the {topic}", "shared the {topic} widely", "asked for more detail about the {topic}",
               "debated the {topic} late into the evening", "wrote to us about the {topic}",
               "followed the {topic} closely"]
_WHEN = ["last week", "over the weekend", "on Monday", "in the days that followed", "earlier this month",
         "during a busy news week", "within hours"]
_OPINIONS = ["the {topic} deserves a careful look", "the {topic} is worth revisiting", "the {topic} raised good questions",
             "the {topic} deserved more attention abroad", "the {topic} will be remembered for a long time"]


def _composed_filler(rng: random.Random) -> str:
    """A filler sentence from a small grammar (thousands of variants; never mentions the claim)."""
    who = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    topic = rng.choice(_TOPIC_NOUNS)
    k = rng.randrange(5)
    if k == 0:
        reaction = rng.choice(_REACTIONS if rng.random() < 0.5 else _REACTIONS_HE)
        return f"{who}, a {rng.choice(_ROLES)} in {rng.choice(_CITIES)}, said the {topic} {reaction}."
    if k == 1:
        return f"{rng.choice(_QUOTES)} That was how {who}, a {rng.choice(_ROLES)}, put it."
    if k == 2:
        return f"{rng.choice(_GROUPS)} in {rng.choice(_CITIES)} {rng.choice(_GROUP_ACTS).format(topic=topic)} {rng.choice(_WHEN)}."
    if k == 3:
        return f"According to {who}, a {rng.choice(_ROLES)}, {rng.choice(_OPINIONS).format(topic=topic)}."
    return f"{rng.choice(_GROUPS)} {rng.choice(_GROUP_ACTS).format(topic=topic)} {rng.choice(_WHEN)}, {who} noted."


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.choice((2024, 2025))}"


def _outlet(rng: random.Random) -> str:
    return f"{rng.choice(_OUTLET_A)} {rng.choice(_OUTLET_B)}"


def _title(g: GenreInput) -> str:
    t = g.rng.choice(_TITLES)
    return t.replace("{Subject}", _cap(g.subject)).replace("{subject}", g.subject)


def _sentences(g: GenreInput, genre: str, n_filler: int) -> list[str]:
    """Content sentences: the document's background sample plus generic and genre fillers, shuffled."""
    rng = g.rng
    pool = list(_FILLER) + list(_G_FILLER.get(genre, ())) * 2
    n_fixed = max(2, n_filler // 2)
    fill = rng.sample(pool, min(n_fixed, len(pool)))
    fill += [_composed_filler(rng) for _ in range(n_filler - n_fixed + rng.randint(5, 9))]
    out = list(g.background) + fill
    rng.shuffle(out)
    return out


def _paragraphs(g: GenreInput, sents: list[str], n_par: int, first_slot: int = 0,
                n_slots: int | None = None) -> list[list[Piece]]:
    """Distribute content sentences and claim slots over ``n_par`` paragraphs (slots keep their order)."""
    rng = g.rng
    n_slots = g.n_slots - first_slot if n_slots is None else n_slots
    items: list[Piece] = list(sents)
    # insert slots at random positions, never as the first item of the first paragraph
    for i in range(n_slots):
        pos = rng.randint(1, len(items)) if items else 0
        items.insert(pos, Slot(first_slot + i))
    slot_seen = 0
    ordered: list[Piece] = []
    for it in items:  # re-number slots in reading order
        if isinstance(it, Slot):
            ordered.append(Slot(first_slot + slot_seen))
            slot_seen += 1
        else:
            ordered.append(it)
    n_par = max(1, min(n_par, len(ordered)))
    cuts = sorted(rng.sample(range(1, len(ordered)), n_par - 1)) if n_par > 1 else []
    paras, prev = [], 0
    for c in cuts + [len(ordered)]:
        paras.append(ordered[prev:c])
        prev = c
    return [p for p in paras if p]


def _join_para(items: list[Piece], lead: str = "") -> list[Piece]:
    out: list[Piece] = [lead] if lead else []
    for i, it in enumerate(items):
        if i:
            out.append(" ")
        out.append(it)
    return out


def _assemble(header: list[str], paras: list[list[Piece]], footer: list[str] | None = None,
              leads: list[str] | None = None) -> list[Piece]:
    out: list[Piece] = []
    if header:
        out.append("\n".join(header))
    for i, p in enumerate(paras):
        if out:
            out.append("\n\n")
        out.extend(_join_para(p, (leads[i] if leads and i < len(leads) else "")))
    if footer:
        out.append("\n\n" + "\n".join(footer))
    return out


# --------------------------------------------------------------------------------------------- genres


def _news(g: GenreInput) -> list[Piece]:
    rng = g.rng
    header = [_title(g), f"By {_person(rng)}, {_outlet(rng)}", f"{rng.choice(_CITIES)}, {_date(rng)}"]
    paras = _paragraphs(g, _sentences(g, "news", rng.randint(8, 12)), rng.randint(4, 6))
    footer = [f"Additional reporting by {_person(rng)}."] if rng.random() < 0.5 else None
    return _assemble(header, paras, footer)


def _encyclopedia(g: GenreInput) -> list[Piece]:
    rng = g.rng
    sents = _sentences(g, "encyclopedia", rng.randint(7, 11))
    paras = _paragraphs(g, sents, rng.randint(3, 5))
    heads = ["Background", "Overview", "Details", "Reception", "Legacy", "Coverage", "Aftermath"]
    rng.shuffle(heads)
    out: list[Piece] = [_cap(g.subject) + "\nFrom the Open Reference Encyclopedia"]
    for i, p in enumerate(paras):
        out.append("\n\n")
        if i:
            out.append(f"{heads[i % len(heads)]}\n")
        out.extend(_join_para(p))
    out.append("\n\nSee also\n" + "\n".join(f"- {x}" for x in rng.sample(
        ["List of notable events", "Timeline of the 2020s", "Media coverage", "Public perception", "Related topics"], 2)))
    return out


def _blog(g: GenreInput) -> list[Piece]:
    rng = g.rng
    header = [_title(g), f"Posted on {_date(rng)} by {rng.choice(_HANDLES)}"]
    paras = _paragraphs(g, _sentences(g, "blog", rng.randint(9, 13)), rng.randint(4, 6))
    footer = [f"Tags: {', '.join(rng.sample(['news', 'history', 'trivia', 'opinion', 'long read', 'culture'], 3))}",
              f"{rng.randint(2, 60)} comments"]
    return _assemble(header, paras, footer)


def _interview(g: GenreInput) -> list[Piece]:
    rng = g.rng
    guest = _person(rng)
    header = [f"Interview: {guest} on {g.subject}", f"Conducted by {_person(rng)} for {_outlet(rng)}"]
    n_q = rng.randint(4, 6)
    paras = _paragraphs(g, _sentences(g, "interview", rng.randint(8, 12)), n_q)
    qs = rng.sample(_INTERVIEW_Q, min(len(paras), len(_INTERVIEW_Q)))
    out: list[Piece] = ["\n".join(header), "\n\n",
                        f"{guest} has followed the story closely. We spoke about what happened and why it matters."]
    for i, p in enumerate(paras):
        q = qs[i % len(qs)].replace("{subject}", g.subject)
        out.append(f"\n\nQ: {q}\n")
        out.extend(_join_para(p, "A: "))
    return out


def _forum(g: GenreInput) -> list[Piece]:
    rng = g.rng
    users = rng.sample(_HANDLES, 5)
    sents = _sentences(g, "forum", rng.randint(8, 12))
    n_posts = rng.randint(3, 5)
    paras = _paragraphs(g, sents, n_posts)
    out: list[Piece] = [f"Thread: {_title(g)}\nForum: General Discussion"]
    for i, p in enumerate(paras):
        verb = "wrote" if i == 0 else rng.choice(["replied", "wrote", "posted"])
        out.append(f"\n\n{users[i % len(users)]} {verb}:\n")
        out.extend(_join_para(p))
    return out


def _press_release(g: GenreInput) -> list[Piece]:
    rng = g.rng
    org = rng.choice(_ORGS)
    header = ["FOR IMMEDIATE RELEASE", _title(g), f"{rng.choice(_CITIES)}, {_date(rng)}"]
    paras = _paragraphs(g, _sentences(g, "press_release", rng.randint(7, 10)), rng.randint(3, 5))
    footer = [f"About {org}", f"{_cap(org)} is an independent organisation that publishes explainers on current topics.",
              f"Media contact: {_person(rng)}, press office"]
    return _assemble(header, paras, footer)


def _newsletter(g: GenreInput) -> list[Piece]:
    rng = g.rng
    header = [f"{_cap(rng.choice(_ORGS))} weekly digest, issue {rng.randint(12, 240)}", "In this issue: " + _title(g)]
    paras = _paragraphs(g, _sentences(g, "newsletter", rng.randint(8, 12)), rng.randint(4, 6))
    footer = ["You are receiving this email because you subscribed to our newsletter."]
    return _assemble(header, paras, footer)


def _lecture_notes(g: GenreInput) -> list[Piece]:
    rng = g.rng
    sents = _sentences(g, "lecture_notes", rng.randint(7, 10))
    paras = _paragraphs(g, sents, rng.randint(3, 5))
    out: list[Piece] = [f"Lecture {rng.randint(2, 18)}: {_title(g)}\nCourse notes, {_date(rng)}"]
    for i, p in enumerate(paras):
        out.append("\n\n" + ("Key points\n" if i == 1 else ""))
        if i == 1:  # bullet list paragraph
            for j, it in enumerate(p):
                if j:
                    out.append("\n")
                out.extend(["- ", it])
        else:
            out.extend(_join_para(p))
    return out


def _podcast(g: GenreInput) -> list[Piece]:
    rng = g.rng
    host, guest = _person(rng), _person(rng)
    sents = _sentences(g, "podcast", rng.randint(8, 12))
    paras = _paragraphs(g, sents, rng.randint(4, 6))
    out: list[Piece] = [f"Transcript: {rng.choice(['The Long View', 'Fact Hour', 'Weekend Edition', 'Deep Dive'])}, "
                        f"episode {rng.randint(3, 300)}\nHost: {host}. Guest: {guest}."]
    t = rng.randint(60, 600)
    for i, p in enumerate(paras):
        t += rng.randint(40, 300)
        who = "HOST" if i % 2 == 0 else "GUEST"
        out.append(f"\n\n{who} ({t // 60:02d}:{t % 60:02d}): ")
        out.extend(_join_para(p))
    return out


def _letter(g: GenreInput) -> list[Piece]:
    rng = g.rng
    to, frm = _person(rng), _person(rng)
    paras = _paragraphs(g, _sentences(g, "letter", rng.randint(7, 10)), rng.randint(3, 5))
    return _assemble([f"{rng.choice(_CITIES)}, {_date(rng)}", f"Dear {to.split()[0]},"], paras,
                     [rng.choice(["Yours sincerely,", "Best wishes,", "Kind regards,"]), frm])


def _textbook(g: GenreInput) -> list[Piece]:
    rng = g.rng
    ch = rng.randint(2, 14)
    sents = _sentences(g, "textbook", rng.randint(7, 10))
    paras = _paragraphs(g, sents, rng.randint(3, 5))
    out: list[Piece] = [f"Chapter {ch}\nSection {ch}.{rng.randint(1, 6)}: {_title(g)}"]
    for p in paras:
        out.append("\n\n")
        out.extend(_join_para(p))
    out.append("\n\nReview questions\n1. Summarise the main events described in this section.\n"
               "2. Which sources would you consult to check them?")
    return out


def _social_thread(g: GenreInput) -> list[Piece]:
    rng = g.rng
    user = rng.choice(_HANDLES)
    sents = _sentences(g, "social_thread", rng.randint(8, 11))
    paras = _paragraphs(g, sents, rng.randint(4, 7))
    out: list[Piece] = [f"Thread by {user} ({_date(rng)})"]
    for i, p in enumerate(paras):
        out.append(f"\n\n{i + 1}/{len(paras)} ")
        out.extend(_join_para(p))
    return out


def _fact_sheet(g: GenreInput) -> list[Piece]:
    rng = g.rng
    sents = list(g.background)
    rng.shuffle(sents)
    paras = _paragraphs(g, sents, rng.randint(2, 3))
    out: list[Piece] = [f"Facts about {g.subject}"]
    for p in paras:
        out.append("\n\n")
        out.extend(_join_para(p))
    return out


def _notes(g: GenreInput) -> list[Piece]:
    rng = g.rng
    sents = list(g.background)
    rng.shuffle(sents)
    paras = _paragraphs(g, sents, 1)
    out: list[Piece] = ["Notes"]
    for p in paras:
        for it in p:
            out.append("\n")
            out.append(it)
    return out


GENRES: dict[str, Callable[[GenreInput], list[Piece]]] = {
    "news": _news, "encyclopedia": _encyclopedia, "blog": _blog, "interview": _interview, "forum": _forum,
    "press_release": _press_release, "newsletter": _newsletter, "lecture_notes": _lecture_notes,
    "podcast": _podcast, "letter": _letter, "textbook": _textbook, "social_thread": _social_thread,
}
TOY_GENRES: dict[str, Callable[[GenreInput], list[Piece]]] = {"fact_sheet": _fact_sheet, "notes": _notes}


def build_genre(name: str, g: GenreInput) -> list[Piece]:
    fn = GENRES.get(name) or TOY_GENRES.get(name)
    if fn is None:
        raise ValueError(f"unknown genre {name!r} (known: {', '.join([*GENRES, *TOY_GENRES])})")
    pieces = fn(g)
    n = sum(isinstance(p, Slot) for p in pieces)
    if n != g.n_slots:  # pragma: no cover - a genre bug
        raise AssertionError(f"genre {name} placed {n} slots, expected {g.n_slots}")
    return pieces
