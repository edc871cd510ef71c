/* SwiftPM needs one source file per C target; the layouts are all in the
 * header, and compiling it here also runs its _Static_asserts for the host. */
#include "CFQDNShared.h"
