from local_runner.cli import main

raise SystemExit(main())
