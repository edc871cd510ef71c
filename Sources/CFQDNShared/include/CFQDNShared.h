#ifndef CFQDN_SHARED_UMBRELLA_H
#define CFQDN_SHARED_UMBRELLA_H
/* Swift's view of the one shared header: the definition lives with the BPF
 * programs and is not copied, so Swift and BPF C cannot drift. */
#include "../../../BPFPrograms/include/fqdn_shared.h"
#endif
