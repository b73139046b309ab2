from oddping_cli.main import main  # importlinter: the entry script, not the core

main()
