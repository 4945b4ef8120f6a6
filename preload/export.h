/* export.h - marks a hook for export; the version script (from hooks.def) is the final word. */
#ifndef SOCKSIFY_EXPORT_H
#define SOCKSIFY_EXPORT_H
#define EXPORT __attribute__((visibility("default")))
#endif
