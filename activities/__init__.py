"""Home activities: what trainers ask parents to do at home, the parents' answers, replies and nudges."""
