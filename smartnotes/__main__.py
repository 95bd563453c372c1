from smartnotes.cli import main

main()
