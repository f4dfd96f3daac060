/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen/mitogen.h> can be included directly."
#endif

#include <glib-object.h>
#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _MitogenBroker    MitogenBroker;
typedef struct _MitogenRouter    MitogenRouter;
typedef struct _MitogenContext   MitogenContext;
typedef struct _MitogenMessage   MitogenMessage;
typedef struct _MitogenReceiver  MitogenReceiver;
typedef struct _MitogenStream    MitogenStream;
typedef struct _MitogenTransport MitogenTransport;
typedef struct _MitogenCall      MitogenCall;
typedef struct _MitogenSelect    MitogenSelect;
typedef struct _MitogenSender    MitogenSender;
typedef struct _MitogenChannel   MitogenChannel;
typedef struct _MitogenInteraction MitogenInteraction;

G_END_DECLS
