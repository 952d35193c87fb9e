from houseprice.local.cli import main

raise SystemExit(main())
