from councilcast.cli import main

raise SystemExit(main())
