"""One-off helper used while writing the English catalogue: fills msgstr from a dict (kept for re-use)."""

import sys

from babel.messages.pofile import read_po, write_po

EN = {
    "E-mailadres": "E-mail address", "Wachtwoord": "Password", "Nieuw wachtwoord": "New password",
    "Herhaal het wachtwoord": "Repeat the password", "De wachtwoorden zijn niet gelijk.": "The passwords differ.",
    "Naam van de sleutel": "Name of the key", "Gebruik minstens %(n)d tekens.": "Use at least %(n)d characters.",
    "Dit is geen e-mailadres.": "This is not an e-mail address.", "Vul een naam in.": "Enter a name.",
    "Er is al een account met dit e-mailadres.": "There is already an account with this e-mail address.",
    "Deze link werkt niet meer. Vraag een nieuwe aan.": "This link no longer works. Ask for a new one.",
    "Nieuw wachtwoord voor Ouderkamer": "New password for Ouderkamer",
    "Dit e-mailadres en wachtwoord horen niet bij elkaar.": "This e-mail address and password do not match.",
    "Je bent uitgelogd.": "You are logged out.",
    "Als dit adres bij ons bekend is, krijg je een e-mail met een link.":
        "If we know this address, you will get an e-mail with a link.",
    "Je wachtwoord is gewijzigd. Log in met je nieuwe wachtwoord.":
        "Your password has been changed. Log in with your new password.",
    "De sleutel is ingetrokken.": "The key has been revoked.", "Geef de cursus een titel.": "Give the course a title.",
    "De einddatum ligt voor de begindatum.": "The end date is before the start date.",
    "Onbekende tijdzone: %(tz)s": "Unknown time zone: %(tz)s",
    "Geef de bijeenkomst een titel.": "Give the session a title.",
    "De duur moet tussen 5 en 480 minuten liggen.": "The duration must be between 5 and 480 minutes.",
    "Deze datum ligt in het verleden.": "This date is in the past.",
    "Kies tussen 1 en %(n)d keer.": "Choose between 1 and %(n)d times.", "Naar de inhoud": "Skip to content",
    "Hoofdmenu": "Main menu", "Mijn cursussen": "My courses", "API-sleutels": "API keys", "Uitloggen": "Log out",
    "Taal": "Language", "Inloggen": "Log in", "Wachtwoord vergeten?": "Forgot your password?",
    "Wachtwoord vergeten": "Forgot password",
    "Vul je e-mailadres in. Je krijgt een link om een nieuw wachtwoord te kiezen.":
        "Enter your e-mail address. You will get a link to choose a new password.",
    "Stuur mij een link": "Send me a link", "Link werkt niet meer": "Link no longer works",
    "Deze link werkt niet meer": "This link no longer works",
    "Een link om je wachtwoord te wijzigen werkt één keer en één uur lang.":
        "A link to change your password works once, for one hour.",
    "Vraag een nieuwe link aan": "Ask for a new link", "Wachtwoord opslaan": "Save password",
    "Je nieuwe sleutel. Kopieer hem nu: hij wordt maar één keer getoond.":
        "Your new key. Copy it now: it is shown only once.",
    "Nieuwe sleutel maken": "Create a new key", "Jouw sleutels": "Your keys", "Naam": "Name",
    "Begint met": "Starts with", "Laatst gebruikt": "Last used", "Acties": "Actions", "ingetrokken": "revoked",
    "Intrekken": "Revoke", "Welkom": "Welcome", "De ouderkamer, maar dan online": "The parents' room, online",
    "Ouderkamer helpt trainers om oudercursussen op afstand te geven: live bijeenkomsten, opnames om terug te "
    "kijken en korte opdrachten voor thuis.":
        "Ouderkamer helps trainers run parent courses at a distance: live sessions, recordings to watch again "
        "and short activities for at home.",
    "Ben je ouder? Open de persoonlijke link die je van je trainer kreeg.":
        "Are you a parent? Open the personal link your trainer sent you.",
    "Inloggen voor trainers": "Log in for trainers", "Bijeenkomsten": "Sessions", "Datum": "Date", "Tijd": "Time",
    "Titel": "Title", "Status": "Status", "Nog geen bijeenkomsten gepland.": "No sessions planned yet.",
    "Ouders": "Parents", "Nog geen ouders ingeschreven.": "No parents enrolled yet.",
    "Je hebt nog geen cursussen.": "You have no courses yet.", "Hallo %(name)s,": "Hello %(name)s,",
    "Je hebt gevraagd om een nieuw wachtwoord voor Ouderkamer. Open deze link (hij werkt één keer, één uur lang):":
        "You asked for a new password for Ouderkamer. Open this link (it works once, for one hour):",
    "Kies een nieuw wachtwoord": "Choose a new password",
    "Heb je dit niet gevraagd? Dan hoef je niets te doen.": "Did you not ask for this? Then you need not do anything.",
    "Geen toegang": "No access", "Deze pagina is niet voor jou.": "This page is not for you.",
    "Niet gevonden": "Not found", "Deze pagina bestaat niet (meer). Controleer de link.":
        "This page does not exist (any more). Check the link.",
    "Er ging iets mis": "Something went wrong", "Probeer het over een paar minuten opnieuw.":
        "Please try again in a few minutes.",
}

path = sys.argv[1]
with open(path, "rb") as fh:
    catalog = read_po(fh)
for message in catalog:
    if message.id and message.id in EN:
        message.string = EN[message.id]
missing = [m.id for m in catalog if m.id and not m.string]
with open(path, "wb") as fh:
    write_po(fh, catalog, width=110)
print("missing:", missing)
