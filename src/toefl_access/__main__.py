from toefl_access.cli import main

main()
