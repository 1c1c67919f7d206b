/* A v4 binding without the interface pointer symbol. */
struct afb_binding_v4_like { const char *api; } ;
const struct afb_binding_v4_like afbBindingV4 = { "noitf" };
void *afbBindingV4root;
