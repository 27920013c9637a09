"""Sales agents: assignment of qualified prospects, the telesales call queue, speed to lead."""
