from smartnotes.cli.main import main

main()
