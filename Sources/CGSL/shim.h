// Shim for the GNU Scientific Library (libgsl-dev).
// Why: under Swift 6 the C globals naming generator types (gsl_rng_mt19937, ...)
// are not concurrency-safe to touch from Swift, so we hand them out from functions.
#ifndef HPCCLOUD_CGSL_SHIM_H
#define HPCCLOUD_CGSL_SHIM_H

#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>

static inline const gsl_rng_type *hpccloud_gsl_rng_mt19937(void) { return gsl_rng_mt19937; }
static inline const gsl_multifit_nlinear_type *hpccloud_gsl_multifit_nlinear_trust(void) { return gsl_multifit_nlinear_trust; }

// GSL's default error handler calls abort(); we check arguments in Swift instead
// and want a bad parameter to surface as a Swift error, never a core dump.
static inline void hpccloud_gsl_disable_abort(void) { gsl_set_error_handler_off(); }

#endif
