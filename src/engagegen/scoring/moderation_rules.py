"""Moderation's second layer: phrase rules for threats, calls to violence, harassment and self-harm.

Each rule is a regular expression over the normalised tokens, tried only when the post holds one of
its trigger words. Violent verbs count only with a person (or a person's home) as object, so
"killer app", "kill time", "shoot a photo" and "this bill should be killed" pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from engagegen.scoring.moderation_words import ModerationMatch

__all__ = ["rule_matches", "defused"]

def _alt(words: Iterable[str]) -> str:
    return "(?:" + "|".join(sorted(words, key=len, reverse=True)) + ")"


_W = r"[a-z0-9']+"
_NEG = r"(?:not|never|no|n't|dont|don't|wont|won't|wouldnt|wouldn't|cant|can't|cannot|shouldnt|shouldn't)"
_FILL = rf"(?:(?!{_NEG}\b){_W} ){{0,2}}"
_NAME = r"(?-i:[A-Z][a-z'\-]+)(?: (?-i:[A-Z][a-z'\-]+))?"
_PERSON_NOUNS = _alt([
    "people", "persons?", "guys?", "m[ae]n", "wom[ae]n", "boys?", "girls?", "kids?", "child(?:ren)?", "bastards?",
    "idiots?", "traitors?", "politicians?", "senators?", "congress(?:wo)?m[ae]n", "mps", "ministers?",
    "president", "governors?", "mayors?", "judges?", "cops?", "police(?:m[ae]n)?", "officers?", "pigs",
    "journalists?", "reporters?", "immigrants?", "migrants?", "refugees?", "foreigners?", "illegals?",
    "liberals?", "libtards?", "conservatives?", "democrats?", "dems", "republicans?", "leftists?", "rightists?",
    "right-wingers?", "left-wingers?", "communists?", "commies?", "fascists?", "socialists?", "nazis?", "antifa",
    "protest[eo]rs?", "rioters?", "voters?", "muslims?", "jews?", "christians?", "catholics?", "atheists?",
    "hindus?", "sikhs?", "gays?", "lesbians?", "trans(?: people)?", "blacks?", "whites?", "asians?", "mexicans?",
    "arabs?", "infidels?", "heretics?", "kafirs?", "unbelievers?", "neighbou?rs?", "landlords?", "bosse?s?",
    "teachers?", "doctors?", "nurses?", "ceos?", "bankers?", "billionaires?", "elites?", "feminists?", "incels?",
    "rapists?", "pedophiles?", "pedos?", "criminals?", "thugs?", "scum", "vermin", "enem(?:y|ies)", "ex",
    "wife", "husband", "girlfriend", "boyfriend", "famil(?:y|ies)", "bitch(?:es)?", "whores?", "sluts?",
    "lawmakers?", "officials?", "voters?", "fans?", "supporters?", "members?", "leaders?", "witch(?:es)?",
    "council(?:lors?|ors?)?", "board", "cabinet", "government", "parliament", "congress", "staff",
])
_POSSESSIVE = r"(?:your|ur|his|her|their|that|those|these|the|my)"
_PLACES = _alt([
    "houses?", "homes?", "cars?", "offices?", "buildings?", "churche?s?", "mosques?", "synagogues?", "temples?",
    "schools?", "clinics?", "shops?", "stores?", "restaurants?", "headquarters", "hq", "embass(?:y|ies)",
    "apartments?", "flats?", "farms?", "business(?:es)?", "vans?", "trucks?", "place", "campaign office",
])
_OBJ2 = (r"(?:you|u|ya|yah|y'all|yall|you all|all of you|every one of you|each of you|"
         r"your (?:\w+ )?(?:family|kids|children|wife|husband|mom|mother|dad|father|sister|brother|son|daughter))")
_OBJ3 = (rf"(?:him|her|them|'em|em|{_NAME}|"
         rf"(?:that|this|those|these|the|all|all the|all of the|all those|all these|any|some|every|every last|every single) "
         rf"(?:{_W} ){{0,2}}{_PERSON_NOUNS}|"
         rf"every (?:last |single )?one of (?:them|those (?:{_W} )?{_PERSON_NOUNS}|these (?:{_W} )?{_PERSON_NOUNS})|"
         rf"{_PERSON_NOUNS}|(?:his|her|their) (?:\w+ )?(?:famil(?:y|ies)|kids|children|wife|husband))")
_BODY = r"(?:face|head|skull|neck|legs?|arms?|knees?|kneecaps?|jaw|teeth|throat|ribs|fingers|bones|nose|spine)"

# "shoot you a message", "kick you out", "cut you some slack", "kill you with kindness", "shoot the
# family photos", "cut the senators' pay": what follows the object shows it is not the target.
_NOT_IDIOM = (r"(?!'| (?:a|an|some|out|off|loose|slack|with kindness|at|to it|up on|"
              r"photos?|pictures?|portraits?|pics?|videos?|footage|shots?|scenes?|session|photoshoot|movie|film|"
              r"pay|salar(?:y|ies)|wages?|taxes|budgets?|benefits|funding|pensions?|votes?|arguments?|ideas?|"
              r"plans?|polic(?:y|ies)|bills?|proposals?|campaigns?|careers?|chances)\b)")
# Verbs that are violent whatever the person: used with third-person and group targets.
_STRONG_VERBS = [
    "kill", "murder", "shoot", "stab", "strangle", "slaughter", "butcher", "behead", "decapitate", "lynch",
    "hang", "torture", "rape", "execute", "gas", "bomb", "blow up", "run over", "shoot up", "string up",
    "assassinate", "exterminate", "wipe out", "beat up", "gun down", "mow down", "snipe", "burn alive",
]
_VIOLENT_STRONG = _alt(_STRONG_VERBS)
# Violent against "you", "him", "her", "them" or a name, but with ordinary uses on other objects
# ("cut the budget", "hurt the economy", "smash the record").
_VIOLENT = _alt(_STRONG_VERBS + [
    "hurt", "punch", "kick", "slap", "smash", "bash", "burn", "drown", "poison", "end", "cut", "choke", "gut",
    "maim", "cripple", "knock out", "hunt down", "put down", "take out", "eliminate", "destroy", "attack",
    "suffocate", "skin",
])
_OBJ_DIRECT = rf"(?:{_OBJ2}|him|her|them|'em|em|{_NAME})"
_VIOLENT_ING_LIST = [
    "killing", "murdering", "shooting", "stabbing", "hanging", "lynching", "beheading", "executing", "bombing",
    "slaughtering", "gassing", "burning", "torturing", "exterminating", "raping", "attacking", "beating up",
]
_VIOLENT_ING = _alt(_VIOLENT_ING_LIST)
_STRONG_PASSIVE_LIST = [
    "hanged", "lynched", "beheaded", "murdered", "shot dead", "shot on sight", "strung up", "burned alive",
    "burnt alive", "burned at the stake", "stoned to death", "put (?:up )?against (?:a|the) wall", "drawn and quartered",
    "shot in the head", "tortured to death", "beaten to death", "killed on sight", "executed by firing squad",
    "gassed", "lined up and shot", "lined up against (?:a|the) wall",
    "exterminated like (?:rats|vermin|roaches|cockroaches|animals)", "dragged out and (?:shot|executed|killed|hanged)",
]
_STRONG_PASSIVE = _alt(_STRONG_PASSIVE_LIST)
_PERSON_PASSIVE_LIST = [
    "killed", "shot", "executed", "hung", "burned", "burnt", "beaten", "stabbed", "raped", "tortured",
    "exterminated", "eliminated", "wiped out", "put down", "taken out", "slaughtered", "assassinated", "bombed",
    "punched", "attacked", "beaten up",
]
_PERSON_PASSIVE = _alt(_PERSON_PASSIVE_LIST)
# Words one of which a post must contain for a rule to be tried (rules are costly, posts many).
_LEAD_WORDS = "i we im ill i'll we'll i'd gonna going imma ima i'mma i'ma"


def _first_words(phrases: list[str]) -> str:
    return " ".join(sorted({p.split()[0] for p in phrases}))


_THREAT_LEAD = (r"(?:(?:i|we) (?:will|shall|gonna|wanna|want to|would love to|'d love to|plan to|intend to|"
                r"am going to|are going to|swear i'll|swear i will|promise i'll|promise i will|am about to|are about to)|"
                r"i'll|ill|we'll|i'd|(?:i'm|im|we're|i am|we are) (?:going to|gonna|about to|coming to)|"
                r"imma|ima|i'mma|i'ma|gonna|going to)")
_CALL_LEAD = (r"(?:(?:someone|somebody|anyone|anybody|some1|we|y'all|yall|you all|people|everyone|everybody|they|"
              r"citizens|patriots|real \w+|good \w+) (?:should|must|need to|needs to|ought to|oughta|has to|have to|"
              r"gotta|got to|better|shall|will|gonna|could|can)|let's|lets|let us|time to|it's time to|its time to|"
              r"i say we|we should all|(?:^|\. ))")
_WISH = (r"(?:die|dies|get cancer|gets cancer|rot|rots|suffer|suffers|burn|burns|choke|chokes|get hit by|gets hit by|"
         r"get raped|gets raped|get shot|gets shot|get killed|gets killed|drown|drowns|starve|starves|get murdered|"
         r"gets murdered|die in a fire|dies in a fire)")
_INSULT = _alt([
    "idiot", "moron", "imbecile", "cretin", "loser", "failure", "freak", "clown", "joke", "disgrace",
    "embarrassment", r"waste of (?:space|oxygen|air|skin|life|sperm|a human)",
    r"piece of (?:shit|crap|garbage|trash|filth|dirt|work|human garbage)", "garbage", "trash", "scum", "scumbag",
    "lowlife", "degenerate", "parasite", "vermin", "subhuman", "pig", "cockroach", "maggot", "worm", "slut",
    "whore", "bitch", "cunt", "bastard", "dumbass", "dipshit", "halfwit", "nitwit", "dimwit", "retard",
    "pathetic", "worthless", "useless", "disgusting", "repulsive", "vile", "ugly", "stupid", "dumb", "brainless",
    "braindead", "psycho", "fatass", "fat pig", r"sack of (?:shit|meat|garbage|crap)",
])
_INSULT_MOD = r"(?:(?:such|so|a|an|the|nothing but|just|absolute|complete|total|fucking|utter|little|fat|stupid|" \
              r"ugly|sick|dumb|" \
              r"worthless|pathetic|disgusting|dirty|miserable|brainless) )*"
_DEHUMANIZE_LIST = ["vermin", "subhuman", "sub-human", "cockroaches", "parasites", "rats", "a disease", "a plague",
                    "a cancer", "filth", "scum", "savages", "apes", "monkeys", "roaches", "insects", "lice", "maggots"]
_DEHUMANIZE = _alt(_DEHUMANIZE_LIST)
_DEHUMANIZE_WORDS = " ".join(w.split()[-1] for w in _DEHUMANIZE_LIST)  # "a plague" -> "plague"
_PROTECTED = _alt(["muslims", "jews", "christians", "blacks", "black people", "whites", "white people", "asians",
                   "mexicans", "immigrants", "gays", "lesbians", "trans people", "women", "arabs", "hindus",
                   "refugees", "migrants", "indians", "africans", "chinese people", "latinos"])
_SELF = r"(?:your ?self|urself|yourselves|ur self|yoself|your own self|yrself)"
_NOT_SELF_IDIOM = r"(?! (?:some|a|an|off|free|loose|in the foot|laughing|over it|for it)\b)"
_HELPFUL_BEFORE = r"(?<!don't )(?<!dont )(?<!do not )(?<!never )(?<!not to )(?<!not )(?<!how to not )(?<!won't )"

_RULES: list[tuple[str, str, str, str]] = [
    # ---- threats: first person, intent, violence, the reader (or someone) as target
    ("threat", "intent to harm", _LEAD_WORDS,
     rf"\b{_THREAT_LEAD} {_FILL}{_VIOLENT} {_OBJ_DIRECT}{_NOT_IDIOM}\b"),
    ("threat", "intent to harm", _LEAD_WORDS,
     rf"\b{_THREAT_LEAD} {_FILL}{_VIOLENT_STRONG} {_OBJ3}{_NOT_IDIOM}\b"),
    ("threat", "intent to harm", _LEAD_WORDS,
     rf"\b{_THREAT_LEAD} {_FILL}(?:beat|knock) (?:{_OBJ2}|{_OBJ3}) (?:up|to death|senseless|"
                                 r"to a pulp|bloody|black and blue|out)\b"),
    ("threat", "intent to harm", _LEAD_WORDS,
     rf"\b{_THREAT_LEAD} {_FILL}(?:break|smash|snap|bash|cut|slit|crush|rip|cave|split|crack|stomp|kick) (?:your|ur|his|her) "
                                 rf"{_BODY}"),
    ("threat", "intent to harm", _LEAD_WORDS,
     rf"\b{_THREAT_LEAD} {_FILL}(?:put|send|shoot|pump|stick) (?:a|some|the|{_W}) "
                                 r"(?:bullets?|rounds?|knife|blade|slugs?) (?:in|into|through) "
                                 r"(?:you|your|ur|him|his|her|them|their)\b"),
    ("threat", "intent to harm", _LEAD_WORDS,
     rf"\b{_THREAT_LEAD} {_FILL}(?:burn|torch|firebomb|bomb|blow up|smash up|trash) "
                                 rf"(?:your|ur|his|her|their) (?:{_W} )?{_PLACES}"),
    ("threat", "intent to harm", _LEAD_WORDS,
     rf"\b{_THREAT_LEAD} (?:find|track|hunt) (?:you|u)(?: down)?(?= and| \.|$)"),
    ("threat", "intent to harm", _LEAD_WORDS,
     rf"\b{_THREAT_LEAD} {_FILL}(?:run|mow|gun|beat|string|hunt) {_OBJ_DIRECT} (?:over|down|up)\b"),
    ("threat", "you are dead", "you u",
     r"\b(?:you|u)(?:'re| are| r|re) (?:so |already |a )?(?:dead|dead meat|dead man|next)"
                               r"(?= \.|$| if| when| tonight| tomorrow| soon| bro| pal| buddy)"),
    ("threat", "you will die", "you u",
     r"\b(?:you|u)(?:'ll| will| are going to| r gonna|'re gonna| are gonna) (?:die|bleed|"
                               r"pay for (?:this|that|it)|regret (?:this|that|it|being born))\b"),
    ("threat", "stock threat", "watch sleep days know find found learn figure won't wont will count coming",
     r"\b(?:watch your back|sleep with one eye open|your days are numbered|"
                               r"(?:know|find out|found out|learn|figure out) where (?:you|u) (?:live|sleep|work)|"
                               r"(?:you|u) (?:won't|wont|will not) see (?:it|me|us) coming|count your days|"
                               r"(?:i'm|im|i am|we're|we are) coming for (?:you|u|your)\b)"),
    ("threat", "intent to harm", _LEAD_WORDS + " catch put putting make waiting wait hands hand rope belt knife blade",
     rf"\b{_THREAT_LEAD} {_FILL}make (?:you|u|him|her|them) (?:bleed|suffer|beg|scream|"
                                 r"pay|regret)\b|\bcatch (?:you|u) alone\b|"
                                 r"\bput(?:ting)? (?:you|u|him|her|them) in (?:the |a )?(?:hospital|ground|grave|morgue|"
                                 r"wheelchair|coffin|body bag)\b|"
                                 r"\bmake sure (?:you|u) (?:never|don't|dont|won't|wont) (?:walk|see|talk|breathe|wake up|"
                                 r"walk again|post again)\b|"
                                 r"\b(?:waiting|wait) (?:for (?:you|u) )?(?:outside|at|near|by) (?:your|ur) (?:house|home|work|"
                                 r"school|office|door|car)\b|"
                                 r"\b(?:hands?|rope|belt|knife|blade) (?:around|across|to|against) (?:your|ur) "
                                 r"(?:throat|neck)\b"),
    ("threat", "armed visit", "bringing bring taking coming",
     r"\b(?:bringing|bring|taking|coming with) (?:a|my|the|some) (?:guns?|knife|knives|rifles?|"
                              r"shotgun|pistol|weapons?|bat|machete|axe) (?:to|into) (?:your|ur|his|her|their) "
                              r"(?:\w+ )?(?:office|house|home|school|work|place|door|party|wedding|rally|church|event)\b"),
    ("threat", "stock threat", "accident",
     r"\b(?:your|ur) (?:kids?|children|family|wife|husband|mom|dad|parents) (?:should|might|could|"
                               r"will|would|may) (?:have|get into|be in|suffer|meet) (?:an?|some) (?:\w+ )?accident\b"),
    ("threat", "stock threat", "know",
     r"\b(?:we|i) know where (?:your|ur) (?:kids?|children|family|wife|husband|mom|parents) "
                               r"(?:live|lives|go|goes|sleep)"),
    # ---- calls to violence
    ("violence", "call to violence", _first_words(_STRONG_VERBS),
     rf"{_CALL_LEAD} ?{_FILL}{_VIOLENT_STRONG} {_OBJ3}{_NOT_IDIOM}\b"),
    ("violence", "call to violence", "burn torch firebomb bomb blow set smash trash",
     rf"{_CALL_LEAD} ?{_FILL}(?:burn|torch|firebomb|bomb|blow up|set fire to|smash up|"
                                     rf"trash) (?:{_POSSESSIVE} )?(?:{_W} )?{_PLACES}"),
    ("violence", "call to violence", "bomb bombs grenade grenades molotov molotovs",
     rf"\b(?:put|plant|throw|drop) (?:a|the|some) (?:bomb|grenade|molotov)s? "
                                     rf"(?:in|into|at|on|under) (?:{_POSSESSIVE} )?(?:{_W} )?(?:{_PLACES}|{_PERSON_NOUNS})"),
    ("violence", "call to violence", "burn torch",
     rf"\b(?:burn|torch) (?:{_POSSESSIVE} )(?:{_W} )?{_PLACES} down\b"),
    ("violence", "should be killed", _first_words(_STRONG_PASSIVE_LIST),
     rf"\b(?:should|must|need to|needs to|ought to|oughta|deserve to|deserves to|to) "
                                     rf"(?:all )?(?:be|get) (?:all )?{_STRONG_PASSIVE}"),
    ("violence", "should be killed", _first_words(_PERSON_PASSIVE_LIST),
     rf"\b(?:{_OBJ3}|they|he|she|you) (?:all )?(?:should|must|need to|needs to|ought to|"
                                     rf"oughta|deserve to|deserves to) (?:all )?(?:be|get) (?:all )?{_PERSON_PASSIVE}\b"),
    ("violence", "should be killed", "shot hanged lynched executed gassed beheaded exterminated slaughtered murdered",
     r"\b(?:people|folks|(?:\w+ )?(?:owners|lovers|fans|voters|supporters|immigrants|\w+ers|\w+ists|\w+ians))\b"
     r"(?:(?!\b(?:not|never|no)\b)[^.!?]){0,60}\b(?:should|must|need to|ought to|deserve to) (?:all )?(?:be|get) "
     r"(?:all )?(?:shot|hanged|lynched|executed|gassed|beheaded|exterminated|slaughtered|murdered)\b"),
    ("violence", "call to violence", "take",
     rf"\btake (?:a|an|the|my|your) (?:knife|gun|bat|hammer|axe|machete|blade|"
                                     rf"crowbar|baseball bat) to {_OBJ3}"),
    ("violence", "deserves death", "deserve deserves deserved",
     r"\bdeserve(?:s|d)? (?:to die|death|a bullet|to be shot|to get shot|to be killed|"
                                   r"to get killed|to be raped|to get raped|to hang|to burn)\b"),
    ("violence", "death to", "death",
     rf"(?:^|\. )death to (?:all )?(?:the )?{_W}"),
    ("violence", "only good", "only",
     rf"\bthe only good {_W} is a dead {_W}"),
    ("violence", "take up arms", "grab get load pick bring take open start",
     r"\b(?:grab|get|load|pick up|bring) (?:your|the|our) (?:guns|rifles|weapons|"
                                 r"pitchforks|ammo|ar-?15s?)\b|\btake up arms\b|\bopen fire (?:on|at)\b|"
                                 r"\bstart (?:shooting|killing|hanging) (?:them|people|every)"),
    ("violence", "call to violence", "all",
     r"\b(?:kill|shoot|hang|gas|exterminate|slaughter) (?:them|'em|em) all\b"),
    ("violence", "call to violence", "run mow gun beat string hunt",
     rf"{_CALL_LEAD} ?{_FILL}(?:run|mow|gun|beat|string|hunt) "
                                     rf"(?:{_OBJ_DIRECT}|{_OBJ3}) (?:over|down|up)\b"),
    ("violence", "call to violence", _first_words(_VIOLENT_ING_LIST),
     rf"\b(?:start|begin|keep|go) {_VIOLENT_ING} (?:{_OBJ3})\b"),
    # ---- self-harm encouragement (and stated intent)
    ("self_harm", "encourages self-harm", "yourself urself yourselves ur your yoself yrself",
     rf"{_HELPFUL_BEFORE}\b(?:kill|hang|shoot|off|end|unalive|drown|cut|starve|hurt|"
                                          rf"stab|burn|poison) {_SELF}{_NOT_SELF_IDIOM}\b"),
    ("self_harm", "encourages self-harm", "kys kyss hero",
     r"\b(?:kys|kyss|an hero)\b"),
    ("self_harm", "encourages self-harm", "die drop jump stop disappear",
     r"\b(?:go|just|pls|please|should|u should|you should|why don't you|why dont you|"
                                          r"hope you|hope u) (?:just |go |and )?(?:die|drop dead|jump off (?:a|the) "
                                          r"(?:bridge|cliff|building|roof)|jump in front of (?:a|the) "
                                          r"(?:train|bus|car|truck)|stop breathing|disappear forever)\b"),
    ("self_harm", "encourages self-harm", "drink chug slit end eat take nobody no no1 world do you u",
     r"\b(?:drink|chug) (?:some )?bleach\b|\bslit (?:your|ur) (?:wrists?|throat)\b|"
                                          r"\bend (?:your|ur) (?:own |miserable |pathetic |worthless |sad )?life\b|"
                                          r"\beat (?:a|my|your) (?:bullet|gun)\b|\btake (?:your|ur) own life\b|"
                                          r"\b(?:nobody|no one|no1) (?:would|will|is going to|gonna) miss (?:you|u)\b|"
                                          r"\bworld (?:would be|is|'d be|will be) better (?:off )?without (?:you|u)\b|"
                                          r"\bdo (?:us|everyone|everybody|the world|all of us) a favou?r and (?:die|"
                                          r"disappear|kill|end|jump|drink|off|unalive|hang|just die)\b|"
                                          r"\b(?:you|u) (?:don't|dont|do not) deserve to (?:live|exist|be alive)\b|"
                                          r"\b(?:you|u) (?:should|need to) (?:just )?(?:not exist|never have been born)\b|"
                                          r"\b(?:nobody|no one|no1) (?:will|would|is going to|gonna) (?:cry|come|show up|care) "
                                          r"(?:at|to|about) (?:your|ur) funeral\b"),
    ("self_harm", "encourages self-harm", "end pills painkillers",
     r"\b(?:you|u) should (?:just )?end it\b|"
                                          r"\b(?:take|swallow|down|overdose on) (?:a (?:whole )?bottle of|all (?:the|your|ur)|"
                                          r"a handful of) (?:pills|sleeping pills|painkillers)\b"),
    ("self_harm", "self-harm intent", "myself end take slit",
     r"\b(?:kill|hang|shoot|unalive) myself\b|\bend (?:my|it) all\b|\bend my (?:own )?life\b|"
                                      r"\btake my own life\b|\bslit my wrists?\b"),
    # ---- harassment
    ("harassment", "insult", "you u ya",
     rf"\b(?:you|u|ya)(?:'re| are| r|re)? {_INSULT_MOD}{_INSULT}\b"),
    ("harassment", "insult", "your ur",
     rf"\b(?:your|ur) (?:a|an|such a|such an) {_INSULT_MOD}{_INSULT}\b"),
    ("harassment", "insult", "you u",
     r"\b(?:you|u)(?:'re| are| r|re) (?:the|a) (?:dumbest|stupidest|ugliest|most pathetic|"
                             r"most disgusting|most worthless|most useless|biggest (?:idiot|loser|moron|failure))\b"),
    ("harassment", "nobody likes you", "nobody no no1 everyone",
     r"\b(?:nobody|no one|no1) (?:likes|loves|wants|cares about|needs) (?:you|u)\b|"
                                       r"\beveryone (?:hates|despises) (?:you|u)\b"),
    ("harassment", "wishes harm", "hope wish pray",
     rf"\b(?:i|we) (?:hope|wish|pray) (?:that )?(?:you|u|ya|he|she|they|your {_W}|{_NAME}) "
                                  rf"(?:all )?(?:\w+ )?{_WISH}\b"),
    ("harassment", "wishes harm", "go",
     r"\bgo (?:and )?(?:die|rot) in (?:a|the) (?:fire|hole|ditch|gutter|hell)\b|"
                                  r"\bgo to hell\b"),
    ("harassment", "go back", "back",
     r"\bgo back (?:to )?(?:where (?:you|u|they|ya) (?:came|come) from|(?:your|ur|their) (?:own )?"
                              r"(?:country|countries|shithole|jungle|cave|desert)|africa|mexico|china|india)\b"),
    ("harassment", "dehumanising", _DEHUMANIZE_WORDS,
     rf"\b(?:you|u|they|these people|those people|all (?:of )?(?:them|those \w+)|"
                                   rf"{_PERSON_NOUNS}) (?:are|'re|r|re) (?:all |just |nothing but |like |such )*"
                                   rf"{_DEHUMANIZE}\b"),
    ("harassment", "dehumanising", _DEHUMANIZE_WORDS + " animals",
     rf"\b{_PROTECTED} (?:are|'re) (?:all |just |nothing but |like )*(?:animals|{_DEHUMANIZE})\b"),
    ("harassment", "hate", "hate despise can't",
     rf"\b(?:i|we) (?:hate|despise|can't stand) (?:all )?(?:the |those |these )?{_PROTECTED}\b"),
    ("harassment", "shut your mouth", "shut",
     r"\bshut (?:the (?:fuck|hell) up|your (?:\w+ )?(?:mouth|trap|face|pie ?hole))\b"),
]


# Idioms and negated harm that the semantic layer, which reads words more than syntax, would take for
# harm ("cut yourself some slack", "kill them with kindness", "I'll shoot you an email", "I will not hurt
# you"): removed from its input.
_DEFUSE_RE = re.compile(
    r"\b(?:cut|give) (?:yourself|urself|yourselves|me|him|her|them|us) (?:some |a little |a )?(?:slack|break)\b"
    r"|\bkill (?:\w+ )?with kindness\b"
    r"|\bshoot (?:me|you|u|him|her|them|us) (?:a|an) (?:quick )?(?:e-?mail|message|text|line|note|dm|pm|msg)\b"
    r"|\b(?:not|never|n't|nobody|no one) (?:\w+ ){0,3}?(?:kill|hurt|harm|hit|murder|shoot|stab|beat|punch|attack)\w*"
    r"(?: (?:you|u|yourself|him|her|them|anyone|anybody|myself|me|us)\b)?", re.IGNORECASE)


def defused(text: str) -> str:
    return _DEFUSE_RE.sub(" ", text)


@lru_cache(maxsize=1)
def _compiled_rules() -> list[tuple[str, str, frozenset[str], re.Pattern[str]]]:
    return [(category, name, frozenset(triggers.split()), re.compile(pattern, re.IGNORECASE))
            for category, name, triggers, pattern in _RULES]


def rule_matches(tokens: list[str]) -> list[ModerationMatch]:
    text = " ".join(tokens)
    # every token, and the part of a contraction before its apostrophe ("you're" -> "you")
    vocabulary = {t.lower() for t in tokens} | {t.lower().split("'")[0] for t in tokens if "'" in t}
    found = []
    for category, name, triggers, regex in _compiled_rules():
        if vocabulary.isdisjoint(triggers):
            continue
        m = regex.search(text)
        if m:
            found.append(ModerationMatch(category, name, m.group(0).strip(" .")))
    return found
