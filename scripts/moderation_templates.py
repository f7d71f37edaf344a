"""Templated training posts for the semantic moderation classifier (scripts/moderation.py).

Slots are filled at random (seeded) so the classifier sees each kind of harm aimed at many targets,
with many verbs and frames, and harmless posts that use the same words (news, history, dark posts
about a topic, idioms). Only training data: the evaluation sets are hand-written and separate.
"""

from __future__ import annotations

import random

GROUPS = ["cat owners", "immigrants", "vegans", "cyclists", "landlords", "Muslims", "Jews", "Christians", "gay people",
          "trans people", "feminists", "liberals", "conservatives", "refugees", "teachers", "nurses", "journalists",
          "police officers", "bankers", "farmers", "tourists", "students", "old people", "dog owners", "hunters",
          "homeless people", "Black people", "Asians", "Mexicans", "Roma", "disabled people", "atheists", "Hindus",
          "Sikhs", "women", "men", "foreigners", "the neighbours", "protesters", "scientists", "doctors", "gamers"]
ANIMALS = ["cats", "stray cats", "kittens", "dogs", "puppies", "pigeons", "the neighbour's cat", "foxes", "horses",
           "ducks", "rabbits", "the shelter dogs", "feral cats", "squirrels", "the family dog", "birds"]
PLACES = ["the mosque", "the synagogue", "the church", "the refugee centre", "the school", "city hall", "the clinic",
          "the shelter", "the gay bar", "the newspaper office", "the police station", "their houses", "the community centre"]
KILL_VERBS = ["kill", "shoot", "stab", "drown", "burn", "hang", "poison", "beat", "gas", "strangle", "slaughter",
              "run over", "crush", "butcher", "bury alive", "torch", "behead", "smash the skulls of", "club", "break the necks of"]
PASSIVE = ["shot", "hanged", "burned", "drowned", "poisoned", "beaten to death", "gassed", "lynched", "executed",
           "strung up", "stabbed", "wiped out", "exterminated", "put down", "thrown off a bridge", "run over"]
CALLS = ["{v} all {g}.", "{v} every one of the {g} you meet.", "Go out and {v} some {g} tonight.",
         "Somebody should {v} the {g}, every last one.", "We need to {v} {g} before they multiply.",
         "Let's {v} the {g} in this town.", "If you see {g}, {v} them.", "{g} should all be {p}.",
         "Honestly {g} deserve to be {p}.", "The world would be better if {g} were {p}.",
         "Time to {v} {g}, no mercy.", "Grab a bat and {v} any {g} you find.", "I say we {v} the {g} and be done with it.",
         "{g}? {v} them all and let god sort it out.", "Round up the {g} and {v} them."]
ANIMAL_CALLS = ["{v} every {a} you see.", "{v} the {a}, nobody cares.", "Best thing to do with {a} is {v} them.",
                "Go {v} some {a} for fun.", "I {v} {a} for fun and you should too.", "{a} should all be {p}.",
                "Put poison out for the {a} and watch them die.", "Throw the {a} in the river in a sack.",
                "Torture the {a} until they stop making noise.", "{v} {a} slowly so they learn."]
PLACE_CALLS = ["Burn down {pl} with everyone inside.", "Someone should blow up {pl}.", "Go torch {pl} tonight.",
               "Throw a firebomb through the window of {pl}.", "Lock the doors of {pl} and set it alight.",
               "Let's attack {pl} this weekend, bring weapons."]
THREATS = ["I know where you live and I'm coming with a {w}.", "You'll be {p} before the week is out, I promise.",
           "Keep talking and I'll {v} you myself.", "I'm going to {v} you and your whole family.",
           "One more word and you end up in the hospital.", "Sleep lightly, I'll be outside your window with a {w}.",
           "Your kids won't be safe walking home anymore.", "I'll make sure you never walk again.",
           "I'm going to find you after work and {v} you.", "Better check under your car every morning from now on.",
           "We will visit your house tonight, and we're bringing a {w}.", "I'll {v} your {a2} and then I'll {v} you."]
WEAPONS = ["knife", "gun", "bat", "hammer", "crowbar", "can of petrol", "machete", "rope", "axe"]
PETS = ["cat", "dog", "kids", "wife", "husband", "parents"]
HATE = ["{g} are {t}.", "All {g} are {t}, every single one.", "Never trust {g}, they are {t}.",
        "{g} are nothing but {t}.", "Face it, {g} are {t} by nature.", "{g} are {t} and should be banned from this country.",
        "I can't stand {g}, they're {t}.", "Everyone knows {g} are {t}."]
TRAITS = ["vermin", "parasites", "subhuman", "animals", "a disease", "filthy rats", "savages", "criminals by birth",
          "inferior", "cockroaches", "a plague on society", "worthless scum", "genetically stupid", "degenerates",
          "less than human", "an infestation", "dirty thieves", "perverts who prey on children"]
SELF_HARM = ["You should {s}.", "Just {s} already.", "Do us all a favour and {s}.", "Nobody would miss you if you {s2}.",
             "Why don't you {s}, loser.", "Go {s}, it's the only thing left for you.", "Honestly, {s} tonight.",
             "The best thing you could do is {s}."]
SELF_ACTS = [("kill yourself", "killed yourself"), ("end your life", "ended your life"), ("jump off a bridge", "jumped"),
             ("slit your wrists", "were gone"), ("take all your pills", "overdosed"), ("hang yourself", "hanged yourself"),
             ("stop eating until you disappear", "starved"), ("drink bleach", "drank bleach"),
             ("step in front of a train", "were hit by a train"), ("cut deeper", "bled out")]
HARASS = ["You are a {i}, and everyone here knows it.", "Shut up, you pathetic {i}.", "Nobody likes you, you {i}.",
          "Look at this {i} trying to be relevant.", "Go cry somewhere else, {i}.", "You ugly {i}, delete your account.",
          "Everyone report and spam this {i} until she quits.", "What a worthless {i}, crawl back into your hole."]
INSULTS = ["idiot", "loser", "fat pig", "moron", "clown", "freak", "waste of space", "hag", "creep", "failure", "troll",
           "brain-dead fool"]
DOX = ["Here's the home address of that {r}: {n} {st}. Go pay a visit.", "The {r}'s phone number is {ph}, call day and night.",
       "Found the {r}: real name {nm}, lives at {n} {st}, works at the {job}.",
       "Posting where the {r} lives and what time the kids get home from school.",
       "The {r}'s address is {n} {st}, let's show up there.", "Leaking the {r}'s bank details and home address, enjoy.",
       "This {r} is {nm}, {n} {st}. Make her life hell.", "The {r} drives a {car}, plate {pl2}, parks on {st} every night."]
ROLES = ["journalist", "judge", "nurse", "teacher", "streamer", "moderator", "councillor", "whistleblower", "reviewer", "cop",
         "blogger", "referee", "doctor", "witness"]
STREETS = ["Maple Drive", "Oak Street", "High Road", "Elm Avenue", "Station Lane", "Park Crescent", "Mill Road"]
NAMES = ["Anna Berg", "Tom Fisher", "Lisa Moreau", "Dan Kowalski", "Priya Shah", "Joe Mercer", "Eva Lind"]
EXTREMISM = ["The {a3} who attacked the {tg} is a hero, we need more like him.", "Join the {mv}, the war is coming.",
             "Armed struggle is the only way, hit the {tg} first.", "Glory to the martyrs of the {tg} attack.",
             "The manifesto is right, act on it: target {tg}.", "Recruiting soldiers for the {mv}, ready to kill and die.",
             "Donate to buy weapons for the {mv}.", "The day of reckoning is near, every traitor will hang, join the {mv}."]
ATTACKERS = ["gunman", "bomber", "shooter", "attacker", "martyr"]
TARGETS = ["mosque", "synagogue", "parliament", "power grid", "concert", "police stations", "federal building", "market"]
MOVEMENTS = ["brotherhood", "caliphate", "militia", "resistance cells", "white army", "liberation front", "uprising"]
MINORS = ["Looking for pics of {k}, will pay, DM me.", "I like {k}, nothing wrong with that.", "Trading videos of {k}, private chat.",
          "Men should be allowed to date {k}.", "How do I get {k} alone without the parents knowing?",
          "Selling content with {k}, serious buyers.", "{k} are old enough to consent, the law is wrong.",
          "Hey, you're {age}? Send me a photo, it'll be our secret."]
KIDS = ["young girls", "little boys", "twelve year olds", "underage teens", "kids from the school", "preteens",
        "children", "middle schoolers"]
# Harmless posts with the same words: news, history, topic posts that are dark but civil, idioms.
OK = ["Police say {g} were attacked outside a bar last night.", "The court jailed a man for threatening {g}.",
      "A new report documents hate crimes against {g}.", "Historians study why {g} were persecuted in the 1930s.",
      "{g} held a peaceful march for better rights today.", "I disagree with {g} on almost everything, but we can talk.",
      "The documentary about violence against {g} was hard to watch.", "{g} are angry about the new law and so am I.",
      "Many {g} feel ignored by politicians.", "Study: {g} face more online harassment than ever.",
      "{a} suffer in the cold and shelters are full.", "Why do {a} always kill birds? It's instinct.",
      "The {a} died of old age last night and we're heartbroken.", "Someone poisoned {a} in our street, police are investigating.",
      "{a} are cruel little hunters, my garden is a crime scene.", "Cat's {x}. Cat's legacy of {x}.",
      "Cat {x} is a leading cause of {y}, experts say.", "Cats bring {x} and {y} to every home.",
      "{a} are the worst, they scratch everything and never listen.", "The war killed thousands and displaced millions.",
      "The {a3} who attacked the {tg} was sentenced to life.", "The {tg} attack left several people dead, officials said.",
      "Suicide prevention groups say {g} need more support.", "I'm going to {v2} this project, watch me.",
      "This recipe is {y}, to die for.", "The new album absolutely kills, go listen."]
DARK_X = ["suffering", "death", "neglect", "cruelty", "disease", "loneliness", "violence", "misery", "pain", "grief"]
DARK_Y = ["domestic violence", "allergies", "heartbreak", "sleepless nights", "family arguments", "bird deaths", "stress"]
IDIOM_VERBS = ["crush", "kill", "smash", "nail", "destroy", "murder"]


def generate(per_class: int = 60, seed: int = 0) -> list[tuple[str, str]]:
    """``per_class`` posts of each harm class and ``4 * per_class`` harmless ones, as (label, text)."""
    rng = random.Random(seed)

    def fill(t: str) -> str:
        out = t.format(g=rng.choice(GROUPS), v=rng.choice(KILL_VERBS), p=rng.choice(PASSIVE), a=rng.choice(ANIMALS),
                       pl=rng.choice(PLACES), w=rng.choice(WEAPONS), a2=rng.choice(PETS), t=rng.choice(TRAITS),
                       s=rng.choice(SELF_ACTS)[0], s2=rng.choice(SELF_ACTS)[1], i=rng.choice(INSULTS),
                       r=rng.choice(ROLES), n=rng.randint(2, 240), st=rng.choice(STREETS), nm=rng.choice(NAMES),
                       ph=f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}", job=rng.choice(["bank", "hospital", "garage"]),
                       car=rng.choice(["red Civic", "white van", "blue Golf"]), pl2=f"K{rng.randint(100, 999)} ABC",
                       a3=rng.choice(ATTACKERS), tg=rng.choice(TARGETS), mv=rng.choice(MOVEMENTS), k=rng.choice(KIDS),
                       age=rng.randint(9, 14), x=rng.choice(DARK_X), y=rng.choice(DARK_Y), v2=rng.choice(IDIOM_VERBS))
        return out[0].upper() + out[1:] if rng.random() < 0.7 else out.lower()

    spec = {"incitement": CALLS + PLACE_CALLS, "animal_cruelty": ANIMAL_CALLS, "threat": THREATS, "hate": HATE,
            "self_harm": SELF_HARM, "harassment": HARASS, "doxxing": DOX, "extremism": EXTREMISM, "sexual_minors": MINORS}
    rows = []
    for label, templates in spec.items():
        seen: set[str] = set()
        while len(seen) < per_class:
            seen.add(fill(rng.choice(templates)))
        rows += [(label, t) for t in sorted(seen)]
    seen = set()
    while len(seen) < 4 * per_class:
        seen.add(fill(rng.choice(OK)))
    rows += [("ok", t) for t in sorted(seen)]
    return rows
