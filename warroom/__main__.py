from warroom.cli import entry

entry()
