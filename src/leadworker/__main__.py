from leadworker.cli import main

main()
