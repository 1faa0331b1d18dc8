"""Results of a run (written as they come), run metadata, figures for the HTML report, and trends."""
