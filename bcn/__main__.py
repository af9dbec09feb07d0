from bcn.cli import main

main()
