from dipcore.cli.main import console

console()
