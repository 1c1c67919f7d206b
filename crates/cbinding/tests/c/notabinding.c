/* A shared object that is not a binding (no entry symbol). */
int not_a_binding(void) { return 42; }
